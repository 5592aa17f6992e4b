// dns::Resolver: DNSSEC-validating lookups over libunbound, asynchronous on an Asio event loop
// (the context's ub_fd() is watched with a stream_descriptor; ub_process() runs completions on
// that loop), and dns::BlockingResolver for one-shot command-line use (poll with a deadline).
//
// Upstream (ResolverOptions): forwarders "IP[@PORT]" with trust anchor file(s) (how the tests
// point it at the DNSSEC lab), or the system's resolv.conf, or by default full recursion from
// the root with the root trust anchor (kRootAnchorFiles). For forwarders the special-use name
// "test." (RFC 6761) is made transparent and queries to 127.0.0.0/8 and ::1 are allowed:
// libunbound otherwise answers NXDOMAIN for test. and refuses to talk to localhost.
//
// Caching: each Resolver keeps one libunbound context for its lifetime, and libunbound caches
// answers (and validation results) for their TTL. Keep one Resolver per process/loop to
// benefit; a BlockingResolver caches only across its own calls.
//
// Linking: resolver.cpp uses Asio compiled separately (ASIO_SEPARATE_COMPILATION); a program
// using Resolver links one Asio implementation (sealpost_net provides it).
#pragma once

#include <chrono>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dns/answer.hpp"
#include "dns/rdata.hpp"

namespace asio {
class io_context;
}

namespace sealpost::dns {

// Where the root trust anchor is looked for (dns-root-data, then unbound-anchor's file).
inline constexpr const char* kRootAnchorFiles[] = {"/usr/share/dns/root.key",
                                                   "/var/lib/unbound/root.key"};

struct ResolverOptions {
  // Upstream, first that applies: forwarders; else resolv.conf; else full recursion.
  std::vector<std::string> forwarders;  // "127.0.0.1@5353", "::1", "192.0.2.53@53"
  bool use_resolv_conf = false;         // forward to /etc/resolv.conf's nameservers
  // DS or DNSKEY records in zone-file format. Empty: the first of kRootAnchorFiles that
  // exists; if none exists and `validate` is set, creating the resolver fails.
  std::vector<std::string> trust_anchor_files;
  bool validate = true;                      // false: no trust anchor: every answer is insecure
  std::chrono::milliseconds timeout{10000};  // per query
};

// An error is a query that got no answer at all (timeout, network, bad name); NXDOMAIN,
// NODATA, SERVFAIL and bogus are answers.
using Result = std::expected<Answer, std::string>;

class Resolver {
 public:
  // Fails with a one-line reason (bad forwarder address, unreadable trust anchor, ...).
  static std::expected<std::unique_ptr<Resolver>, std::string> create(
      asio::io_context& io, const ResolverOptions& options);
  ~Resolver();  // cancels outstanding queries: their callbacks are never called
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Starts a lookup; `done` runs later on the io_context's thread (never inside this call).
  // Call from the io_context's thread.
  void resolve(std::string_view name, RrType type, std::function<void(Result)> done);

  struct Impl;

 private:
  explicit Resolver(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared with in-flight Asio handlers (they hold weak_ptrs)
};

class BlockingResolver {
 public:
  static std::expected<BlockingResolver, std::string> create(const ResolverOptions& options);
  ~BlockingResolver();
  BlockingResolver(BlockingResolver&&) noexcept;
  BlockingResolver& operator=(BlockingResolver&&) noexcept;

  // Waits up to options.timeout.
  Result resolve(std::string_view name, RrType type);

  struct Impl;

 private:
  explicit BlockingResolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sealpost::dns
