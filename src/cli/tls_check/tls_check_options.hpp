// The options of `sealpost tls-check HOST[:PORT]` and their checks: the target, how TLS starts
// (implicit, RFC 8314 §3, port 465; or STARTTLS, RFC 3207, port 25), the reference identity
// and SNI, the trust anchors, DANE (TLSA from DNS or from the command line) and the output.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tls/client_verify.hpp"

namespace CLI {
class App;
}

namespace sealpost::cli::tls_check {

enum class TlsStart { kImplicit, kStartTls };

struct Options {
  std::string target;  // HOST[:PORT] as given; HOST may be [IPv6] or a bare IPv6 literal
  bool implicit = false;
  bool starttls = false;
  std::string sni_option;  // --sni
  std::string ca_file;
  bool dane = false;
  std::vector<std::string> tlsa_texts;   // --tlsa "U S M HEX", repeatable
  std::vector<std::string> dns_servers;  // --dns-server IP[@PORT]
  std::string dns_trust_anchor;
  std::string helo;
  bool json = false;
  int timeout_seconds = 30;

  // Derived by finish_options().
  std::string host;  // without brackets
  int port = 0;
  bool host_is_ip = false;
  TlsStart start = TlsStart::kImplicit;
  std::string reference_name;  // the name (or IP) the certificate must carry
  std::string sni;             // "" = none
  std::vector<tls::Tlsa> tlsa;
};

void add_options(CLI::App& command, Options& options);

// Fills the derived fields; a one-line error for bad input (exit 64).
std::optional<std::string> finish_options(Options& options);

std::chrono::seconds timeout(const Options& options);

}  // namespace sealpost::cli::tls_check
