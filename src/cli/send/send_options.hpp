// `sealpost send` options: the command line (sendmail-compatible flags plus the submission
// server settings), the optional client configuration file (TOML, mode 0600 enforced) and the
// password sources. Nothing here connects; send_driver.cpp does. Exit codes per sysexits(3).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sealpost::send {

// sysexits.h values (spelt out: the header is not in every libc's C++ view).
inline constexpr int kExOk = 0;
inline constexpr int kExUsage = 64;
inline constexpr int kExDataErr = 65;
inline constexpr int kExNoHost = 68;
inline constexpr int kExUnavailable = 69;
inline constexpr int kExSoftware = 70;
inline constexpr int kExTempFail = 75;
inline constexpr int kExProtocol = 76;
inline constexpr int kExConfig = 78;

enum class TlsChoice { kImplicit, kStartTls, kNone };

struct SendOptions {
  // sendmail interface
  std::vector<std::string> recipients;
  bool recipients_from_headers = false;  // -t
  std::string sender;                    // -f (envelope reverse-path)
  std::string full_name;                 // -F
  bool ignore_dots = false;              // -i / -oi: accepted; stdin is always read to EOF
  std::vector<std::string> o_options;    // -oX: only -oi has a meaning
  bool verbose = false;                  // -v: the protocol log on stderr

  // submission server
  std::string server;              // HOST[:PORT], [v6]:PORT
  std::string host;                // filled by finish_send_options
  int port = 0;                    // 0: 465 (implicit) or 587 (STARTTLS)
  std::string server_name;         // name for SNI and certificate check; default: host
  bool server_name_given = false;  // --server-name was set (filled by finish_send_options)
  bool discover = false;           // SRV discovery: a host name without port (finish_send_options)
  std::vector<std::string> dns_servers;        // IP[@PORT]: resolve through these (src/dns)
  std::vector<std::string> dns_trust_anchors;  // DS/DNSKEY files for DNSSEC validation
  TlsChoice tls = TlsChoice::kImplicit;
  bool starttls = false;
  bool plaintext = false;  // --plaintext-i-know
  std::string user;
  std::string password;  // resolved by finish_send_options
  std::string password_env;
  std::string password_command;
  std::string client_config;
  std::string ca_file;
  std::string pin_sha256;  // base64 of SHA-256(SubjectPublicKeyInfo DER)
  std::string mechanism;   // empty: strongest both sides support
  std::string helo_name;
  int connect_timeout = 30;  // seconds, the TCP connect
  // Seconds for each network step after it (msmtp's --timeout): every read (so every awaited
  // reply, capped further by RFC 5321 §4.5.3.2), every write and the TLS handshake.
  int timeout = 60;
};

// Registers the options on `cmd` (the `send` subcommand or the sendmail-mode app).
void add_send_options(CLI::App& cmd, SendOptions& options);

struct OptionError {
  int exit_code;
  std::string message;
};

// Reads the client configuration file (command-line values win), resolves the password and
// the server address. nullopt on success.
std::optional<OptionError> finish_send_options(SendOptions& options);

}  // namespace sealpost::send
