// Where `sealpost send` connects: with --server DOMAIN and no port, the SRV records of
// _submissions._tcp.DOMAIN (implicit TLS, RFC 8314 §5.1) or _submission._tcp.DOMAIN (STARTTLS,
// RFC 6186 §3.1), ordered per RFC 2782; a lone "." target means "not offered here"; no SRV
// record means DOMAIN:465 (or :587). Also which names the server certificate may match:
// RFC 6186 §6 and RFC 7817 §3 allow the SRV target only when the SRV answer was DNSSEC-secure;
// otherwise the reference identity stays the domain the user configured.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <vector>

#include "cli/send/send_options.hpp"

namespace sealpost::send {

struct Target {
  std::string host;  // name (or address literal) to connect to
  int port = 0;
};

struct Route {
  std::vector<Target> targets;           // in the order to try
  std::string server_name;               // SNI and the primary reference identity
  std::vector<std::string> also_accept;  // names from DNSSEC-secure SRV targets
  std::string how;                       // one line for -v: how the targets were found
};

struct DiscoveryError {
  int exit_code;
  std::string message;
};

class Discovery {
 public:
  explicit Discovery(const SendOptions& options);
  ~Discovery();

  std::expected<Route, DiscoveryError> route();

  // True when names are resolved through src/dns (--dns-server given) rather than getaddrinfo.
  bool resolves_addresses() const { return !options_.dns_servers.empty(); }
  // The IPv6 and IPv4 addresses of `host` through src/dns (AAAA first). Bogus answers are
  // errors; an address literal is returned as is.
  std::expected<std::vector<std::string>, DiscoveryError> addresses(const std::string& host);

 private:
  struct Lookup;
  std::expected<Lookup*, DiscoveryError> lookup();
  const SendOptions& options_;
  std::unique_ptr<Lookup> lookup_;
};

}  // namespace sealpost::send
