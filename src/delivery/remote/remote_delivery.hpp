// delivery::remote::RemoteDelivery: one message to the recipients of one domain over SMTP to
// the domain's MX hosts, under the outbound TLS policy (tls::decide / tls::evaluate), with one
// log line per attempt (issue 6 item 7). Synchronous and deadline-bounded, meant to run on
// scheduler worker threads (MTA-STS policies, RFC 8461, are discovered there too). Connections
// are reused across calls (connection_cache.hpp) for the same MX address under the same TLS
// requirement. The smarthost is relay_delivery.hpp's.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/outcome.hpp"
#include "delivery/remote/connection_cache.hpp"
#include "dns/resolver.hpp"
#include "smtp/client_session.hpp"
#include "tls/policy.hpp"

namespace sealpost::delivery::remote {

struct RemoteOptions {
  std::string helo_name = "localhost";  // our FQDN (RFC 5321 §4.1.1.1)
  dns::ResolverOptions resolver;        // forwarders + trust anchor for tests
  int mx_port = 25;                     // tests deliver to MX hosts on a high port
  std::string ca_file;                  // PKIX trust anchors; empty: the system store
  std::vector<tls::PolicyKind> policy_chain = tls::kDefaultPolicyChain;
  // Per destination domain (lower case, exact match, no trailing dot): replaces policy_chain.
  std::map<std::string, std::vector<tls::PolicyKind>, std::less<>> domain_policies;
  std::chrono::seconds attempt_deadline{300};  // one connection, greeting to QUIT
  std::chrono::seconds connect_timeout{30};    // the TCP connect alone (within the deadline)
  // Per delivery run, like Postfix's smtp_mx_session_limit / smtp_mx_address_limit: a
  // domain with many dead MX hosts or addresses cannot hold a worker for hours.
  std::size_t max_mx_hosts = 5;
  std::size_t max_addresses_per_host = 5;
  bool shuffle_equal_preference = true;  // RFC 5321 §5.1 (off for deterministic tests)
  // MTA-STS (RFC 8461), used when a chain has "mta-sts": the HTTPS port of mta-sts.DOMAIN
  // (only tests change it; the fetch uses ca_file too), how many policy domains are cached in
  // memory, and a directory that keeps the cache across restarts ("" = memory only).
  int mta_sts_port = 443;
  std::size_t mta_sts_cache_size = 10000;
  std::string mta_sts_cache_dir;
  // Idle connections kept for the next message to the same MX address (idle_time 0: none).
  ConnectionCacheLimits connection_cache;
  // Where the per-attempt lines go; empty: spdlog at info level.
  std::function<void(const std::string&)> log;
};

// Reverse-path, the recipients (all in one domain), the content and the MAIL/RCPT parameters
// to pass on (SMTPUTF8, DSN, REQUIRETLS); delivery::outgoing_message() builds it from a
// queued message. With require_tls, only a DNSSEC- or MTA-STS-authenticated, verified
// server is used (RFC 8689 §4.2.1); where the policy cannot give one, it bounces (5.7.10).
using RemoteMessage = smtp::OutgoingMessage;

// RFC 8689 §4.2.1: may a REQUIRETLS message go to a host under this requirement? Only when the
// MX set is authenticated (DNSSEC, or an MTA-STS policy) and so is the server (DANE, or PKIX
// with the MX name): `dane` with usable TLSA, `mta-sts` enforce, `verify` under a secure MX.
// mx_status is that of the MX RRset the host came from (for an implicit MX, its addresses).
bool meets_requiretls(const tls::Requirement& requirement, tls::DnsStatus mx_status);

// The permanent failure of a REQUIRETLS message for an MX host that does not meet it.
Outcome requiretls_refusal(std::string_view domain, std::string_view mx_host);

class RemoteDelivery {
 public:
  // Fails on a bad resolver setup or an unusable CA file.
  static std::expected<std::unique_ptr<RemoteDelivery>, std::string> create(RemoteOptions options);
  ~RemoteDelivery();

  // One Outcome per message.recipients entry, in order. Thread-safe: each call borrows a
  // resolver of its own from a pool (a libunbound context serves one thread at a time, and
  // keeps its cache across calls). Every call must have returned before the destructor runs.
  std::vector<Outcome> deliver(std::string_view domain, const RemoteMessage& message);

  struct Impl;

 private:
  explicit RemoteDelivery(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sealpost::delivery::remote
