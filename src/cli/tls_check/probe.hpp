// One tls-check probe: connect, run the SMTP dialogue up to TLS (STARTTLS, RFC 3207) or start
// TLS at once (implicit, RFC 8314 §3), verify the peer with tls::client_verify without aborting
// the handshake, then finish politely (EHLO over TLS, QUIT). The SMTP side is
// smtp::ClientSession; this file moves bytes and maps failures to sysexits codes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/tls_check/tls_check_options.hpp"
#include "net/client_connection.hpp"
#include "tls/client_verify.hpp"

namespace sealpost::cli::tls_check {

using net::Clock;
using net::Deadline;

// sysexits(3)
constexpr int kExUsage = 64;
constexpr int kExNoHost = 68;
constexpr int kExUnavailable = 69;
constexpr int kExSoftware = 70;
constexpr int kExTempFail = 75;
constexpr int kExProtocol = 76;
constexpr int kExConfig = 78;

struct ProbeResult {
  std::string error;     // one line; "" when a TLS session was established
  int exit_code = 0;     // the sysexits code for `error`
  std::string address;   // the address connected to
  std::string greeting;  // the greeting's first line, "220 mail.test ESMTP Sealpost"
  std::optional<bool> starttls_offered;      // --starttls: what the EHLO reply said
  std::vector<std::string> auth_mechanisms;  // offered over TLS
  std::string smtp_note;  // SMTP trouble once TLS was up (reported; not the verdict)
  tls::PeerSetup setup;
  std::optional<tls::PeerResult> peer;  // once a handshake was attempted
};

// `tlsa`: records to authenticate with (DANE); `addresses`: numeric addresses to connect to
// (empty: resolve the host with getaddrinfo).
ProbeResult probe(const Options& options, const std::vector<tls::Tlsa>& tlsa,
                  const std::vector<std::string>& addresses, Deadline deadline);

}  // namespace sealpost::cli::tls_check
