// TLSA and address lookups for `tls-check --dane` over dns::BlockingResolver, upstream from
// --dns-server / --dns-trust-anchor (default: full recursion with the root trust anchor).
#include "cli/tls_check/dane_lookup.hpp"

#include <algorithm>

#include "dns/resolver.hpp"

namespace sealpost::cli::tls_check {

namespace {

std::chrono::milliseconds left(net::Deadline deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - net::Clock::now());
  return std::max(ms, std::chrono::milliseconds(1));
}

}  // namespace

TlsaLookup lookup_dane(const Options& o, net::Deadline deadline) {
  TlsaLookup out;
  std::string host = o.host;
  if (host.ends_with('.')) host.pop_back();
  out.qname = "_" + std::to_string(o.port) + "._tcp." + host;

  dns::ResolverOptions ro;
  ro.forwarders = o.dns_servers;
  if (!o.dns_trust_anchor.empty()) ro.trust_anchor_files = {o.dns_trust_anchor};
  // Half the time for DNS at most: the TLS handshake still needs its share.
  ro.timeout = std::min(left(deadline) / 2, std::chrono::milliseconds(10000));
  auto resolver = dns::BlockingResolver::create(ro);
  if (!resolver) {
    out.status = "error";
    out.detail = "resolver: " + resolver.error();
    out.resolver_unusable = true;
    return out;
  }

  auto answer = resolver->resolve(out.qname, dns::RrType::kTlsa);
  if (!answer) {
    out.status = "error";
    out.detail = answer.error();
  } else {
    out.security = dns::security_name(answer->security);
    if (answer->bogus()) {
      out.status = "servfail";
      out.detail = answer->why_bogus;
    } else if (answer->nxdomain) {
      out.status = "nxdomain";
    } else if (answer->rcode != dns::kRcodeNoError) {
      out.status = "servfail";
      out.detail = "rcode " + std::to_string(answer->rcode);
    } else if (!answer->has_data) {
      out.status = "nodata";
    } else {
      out.status = "records";
      auto records = answer->tlsa();
      out.malformed = records.malformed;
      out.records = std::move(records.records);
    }
  }

  // Addresses from the same resolver: a lab zone (or a split view) may be unknown to the
  // system's resolver. If there are none, the connection falls back to getaddrinfo.
  bool all_secure = true;
  for (dns::RrType type : {dns::RrType::kAaaa, dns::RrType::kA}) {
    auto a = resolver->resolve(host, type);
    if (!a || !a->has_data || a->bogus()) continue;  // forged data is no address to use
    all_secure = all_secure && a->secure();
    for (const std::string& address : a->addresses().records) out.addresses.push_back(address);
  }
  if (!out.addresses.empty()) out.address_security = all_secure ? "secure" : "insecure";
  return out;
}

}  // namespace sealpost::cli::tls_check
