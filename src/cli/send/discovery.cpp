// SRV discovery through dns::BlockingResolver. DNS failures are temporary (EX_TEMPFAIL): a
// SERVFAIL or a bogus answer is never taken as "no SRV record", since falling back would let a
// forger choose the outcome. The resolver validates when given trust anchors
// (--dns-trust-anchor, e.g. /usr/share/dns/root.key); without them every answer is insecure,
// which only narrows the accepted certificate names to the configured domain.
#include "cli/send/discovery.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "dns/resolver.hpp"
#include "dns/srv_order.hpp"

namespace sealpost::send {

struct Discovery::Lookup {
  dns::BlockingResolver resolver;
};

namespace {

bool is_address_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string without_root_dot(std::string name) {
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  return name;
}

DiscoveryError temp(std::string message) { return DiscoveryError{kExTempFail, std::move(message)}; }

}  // namespace

Discovery::Discovery(const SendOptions& options) : options_(options) {}
Discovery::~Discovery() = default;

std::expected<Discovery::Lookup*, DiscoveryError> Discovery::lookup() {
  if (lookup_) return lookup_.get();
  dns::ResolverOptions ro;
  ro.forwarders = options_.dns_servers;
  ro.use_resolv_conf = options_.dns_servers.empty();
  ro.trust_anchor_files = options_.dns_trust_anchors;
  // Validate only when asked to: a resolver that strips DNSSEC would make every answer bogus
  // under an automatic root anchor, and send would stop working. Unvalidated answers are
  // insecure, which keeps the certificate name at the configured domain: safe, just stricter.
  ro.validate = !ro.trust_anchor_files.empty();
  ro.timeout = std::chrono::seconds(std::min(options_.connect_timeout, 15));
  auto resolver = dns::BlockingResolver::create(ro);
  if (!resolver) return std::unexpected(DiscoveryError{kExConfig, "DNS: " + resolver.error()});
  lookup_ = std::make_unique<Lookup>(Lookup{std::move(*resolver)});
  return lookup_.get();
}

std::expected<Route, DiscoveryError> Discovery::route() {
  Route route;
  route.server_name = options_.server_name;
  if (!options_.discover) {
    route.targets.push_back(Target{options_.host, options_.port});
    route.how = "server " + options_.host + " port " + std::to_string(options_.port);
    return route;
  }
  auto l = lookup();
  if (!l) return std::unexpected(l.error());
  const std::string domain = without_root_dot(options_.host);
  const std::string qname =
      (options_.tls == TlsChoice::kStartTls ? "_submission._tcp." : "_submissions._tcp.") + domain;
  auto answer = (*l)->resolver.resolve(qname, dns::RrType::kSrv);
  if (!answer) return std::unexpected(temp("SRV lookup failed: " + answer.error()));
  if (answer->bogus())
    return std::unexpected(temp("SRV lookup for " + qname + ": DNSSEC validation failed (" +
                                answer->why_bogus +
                                "); not using the answer (a resolver without DNSSEC support "
                                "causes this too: then give the port, DOMAIN:465, or "
                                "--dns-server)"));
  if (answer->rcode != dns::kRcodeNoError && !answer->nxdomain)
    return std::unexpected(temp("SRV lookup for " + qname + ": server failure (rcode " +
                                std::to_string(answer->rcode) + ")"));
  if (!answer->has_data) {  // NXDOMAIN or NODATA: no SRV, the domain itself (RFC 6186 §3.1)
    route.targets.push_back(Target{domain, options_.port});
    route.how = "no SRV record for " + qname + "; trying " + domain + " port " +
                std::to_string(options_.port);
    return route;
  }
  auto set = answer->srv();
  if (set.records.empty())
    return std::unexpected(temp("SRV lookup for " + qname + ": malformed records"));
  if (dns::srv_service_unavailable(set.records))
    return std::unexpected(
        DiscoveryError{kExUnavailable, "SRV " + qname +
                                           " has target \".\": the domain offers no submission "
                                           "service (RFC 2782); message not sent"});
  for (auto& r : dns::order_srv(set.records)) {
    std::string target = without_root_dot(r.target);
    route.targets.push_back(Target{target, r.port});
    // RFC 7817 §3 / RFC 6186 §6: only a DNSSEC-validated SRV target is a reference identity;
    // an explicit --server-name is the user's own choice and stays the only one.
    if (answer->secure() && !options_.server_name_given &&
        std::find(route.also_accept.begin(), route.also_accept.end(), target) ==
            route.also_accept.end() &&
        target != route.server_name)
      route.also_accept.push_back(target);
  }
  route.how = "SRV " + qname + " (" + dns::security_name(answer->security) + "): ";
  for (std::size_t i = 0; i < route.targets.size(); ++i)
    route.how +=
        (i ? ", " : "") + route.targets[i].host + ":" + std::to_string(route.targets[i].port);
  route.how += "; certificate must match " + route.server_name;
  for (const auto& n : route.also_accept) route.how += " or " + n;
  return route;
}

std::expected<std::vector<std::string>, DiscoveryError> Discovery::addresses(
    const std::string& host) {
  if (is_address_literal(host)) return std::vector<std::string>{host};
  auto l = lookup();
  if (!l) return std::unexpected(l.error());
  std::vector<std::string> out;
  bool servfail = false;
  for (auto type : {dns::RrType::kAaaa, dns::RrType::kA}) {
    auto answer = (*l)->resolver.resolve(host, type);
    if (!answer) return std::unexpected(temp("cannot resolve " + host + ": " + answer.error()));
    if (answer->bogus())
      return std::unexpected(temp("cannot resolve " + host + ": DNSSEC validation failed (" +
                                  answer->why_bogus + ")"));
    servfail = servfail || answer->rcode == dns::kRcodeServFail;
    for (auto& a : answer->addresses().records) out.push_back(std::move(a));
  }
  if (out.empty())
    return std::unexpected(
        servfail ? temp("cannot resolve " + host + ": server failure")
                 : DiscoveryError{kExNoHost, "cannot resolve " + host + ": no address"});
  return out;
}

}  // namespace sealpost::send
