// RemoteDelivery::deliver: MX plan -> for each host: addresses, TLSA (only under a secure MX,
// RFC 7672 §2.2.1), the MTA-STS policy (discovered once per run, and only when the chain gets
// as far as mta-sts), tls::decide -> for each address: attempt(). The first attempt that gets
// the message judged ends the run; every other failure moves on to the next address and MX,
// and the last one is what the recipients get (RFC 5321 §5.1). attempt() looks in the connection
// cache first, under the key of the host, the address and the requirement just decided.
#include "delivery/remote/remote_delivery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <random>

#include "delivery/remote/attempt.hpp"
#include "delivery/remote/mta_sts_discovery.hpp"
#include "delivery/remote/mx_plan.hpp"
#include "delivery/remote/resolver_pool.hpp"
#include "tls/client_verify.hpp"

namespace sealpost::delivery::remote {

namespace {

// RFC 8461 §3.3 leaves timeouts to the sender; a policy fetch stays within one attempt's
// budget and never waits on a dead host longer than a few seconds to connect.
PolicyFetchSettings fetch_settings(const RemoteOptions& o) {
  PolicyFetchSettings f;
  f.port = o.mta_sts_port;
  f.ca_file = o.ca_file;
  f.connect_timeout =
      std::min<std::chrono::milliseconds>(o.connect_timeout, std::chrono::seconds(10));
  f.timeout = std::min<std::chrono::milliseconds>(o.attempt_deadline, std::chrono::seconds(60));
  return f;
}

}  // namespace

// Members are destroyed in reverse order: nothing here refers to a later member.
struct RemoteDelivery::Impl {
  Impl(RemoteOptions o, tls::SslCtxPtr ctx, dns::BlockingResolver first)
      : options(std::move(o)),
        ssl_ctx(std::move(ctx)),
        resolvers(options.resolver),
        mta_sts(fetch_settings(options), options.mta_sts_cache_size, options.mta_sts_cache_dir),
        connections(options.connection_cache) {
    resolvers.give_back(std::move(first));
  }

  RemoteOptions options;
  tls::SslCtxPtr ssl_ctx;
  ResolverPool resolvers;
  MtaStsDiscovery mta_sts;      // the policy cache shared by every delivery thread
  ConnectionCache connections;  // first to go: its idle sessions use ssl_ctx
};

namespace {

std::vector<tls::Tlsa> to_tlsa(const dns::Answer& answer) {
  std::vector<tls::Tlsa> out;
  for (const dns::TlsaRecord& r : answer.tlsa().records)
    out.push_back(tls::Tlsa{r.usage, r.selector, r.matching_type, r.data});
  return out;
}

bool chain_has(const std::vector<tls::PolicyKind>& chain, tls::PolicyKind kind) {
  return std::find(chain.begin(), chain.end(), kind) != chain.end();
}

class Run {
 public:
  Run(RemoteDelivery::Impl& impl, dns::BlockingResolver& resolver, std::string domain,
      const smtp::OutgoingMessage& message)
      : o_(impl.options),
        ctx_(impl.ssl_ctx.get()),
        mta_sts_discovery_(impl.mta_sts),
        connections_(impl.connections),
        resolver_(resolver),
        domain_(std::move(domain)),
        message_(message) {
    auto it = o_.domain_policies.find(domain_);
    chain_ = it != o_.domain_policies.end() ? it->second : o_.policy_chain;
  }

  std::vector<Outcome> deliver() {
    std::mt19937 rng(std::random_device{}());
    auto plan = plan_mx(domain_, resolver_.resolve(domain_, dns::RrType::kMx),
                        o_.shuffle_equal_preference ? &rng : nullptr);
    if (!plan) {
      log("-", "-", nullptr, nullptr, outcome_text(plan.error()));
      return all(plan.error());
    }
    cap_hosts(*plan, o_.max_mx_hosts);
    Outcome last = defer("4.4.1", "no MX host of " + domain_ + " could be tried");
    for (const MxHost& host : plan->hosts) {
      if (auto done = try_host(*plan, host, last)) return *done;
    }
    // RFC 8461 §4.1: an enforced policy that lists none of the MX hosts is a 4.7.x deferral,
    // said once and plainly rather than as the last host's skip.
    if (decided_ > 0 && not_listed_ == decided_)
      last = defer("4.7.5", "mta-sts: no MX host of " + domain_ +
                                " matches its enforced policy; nothing was sent");
    return all(last);
  }

 private:
  std::optional<std::vector<Outcome>> try_host(const MxPlan& plan, const MxHost& host,
                                               Outcome& last) {
    AddressPlan addresses =
        plan_addresses(host.name, resolver_.resolve(host.name, dns::RrType::kAaaa),
                       resolver_.resolve(host.name, dns::RrType::kA));
    if (addresses.addresses.empty()) {
      bool bogus = addresses.status == tls::DnsStatus::kBogus;
      last = defer(bogus ? "4.7.5" : "4.4.4", addresses.error);
      log(host.name, "-", nullptr, nullptr, outcome_text(last));
      return std::nullopt;
    }
    tls::PolicyInput in;
    in.chain = chain_;
    in.domain = domain_;
    in.mx_host = host.name;
    // RFC 7672 §2.2.1: for an implicit MX the address records stand in for the MX RRset.
    in.mx_status = plan.implicit ? addresses.status : plan.status;
    // TLSA only for a host whose addresses are secure too (RFC 7672 §2.2.2, as Postfix does):
    // otherwise the records would vouch for an address an attacker may have chosen.
    if (in.mx_status == tls::DnsStatus::kSecure && addresses.status == tls::DnsStatus::kSecure &&
        chain_has(in.chain, tls::PolicyKind::kDane)) {
      std::string qname = "_" + std::to_string(o_.mx_port) + "._tcp." + host.name;
      dns::Result tlsa = resolver_.resolve(qname, dns::RrType::kTlsa);
      in.tlsa_status = dns_status(tlsa);
      if (tlsa && tlsa->has_data && !tlsa->bogus()) {
        in.tlsa = to_tlsa(*tlsa);
        in.tlsa_present = true;  // even if every record was malformed (RFC 7672 §2.2)
      }
    }
    if (reaches_mta_sts(in)) in.mta_sts = mta_sts_policy();
    tls::Requirement req = tls::decide(in);
    ++decided_;
    if (req.defer) {
      if (req.policy == tls::PolicyKind::kMtaSts && in.mta_sts && !in.mta_sts->matches(host.name))
        ++not_listed_;
      last = defer("4.7.5", req.reason);
      log(host.name, "-", &req, nullptr, outcome_text(last));
      return std::nullopt;
    }
    if (message_.require_tls && !meets_requiretls(req, in.mx_status)) {
      // Nothing is sent to this host; the next MX may do better (RFC 8689 §4.2.1).
      last = requiretls_refusal(domain_, host.name);
      log(host.name, "-", &req, nullptr, outcome_text(last));
      return std::nullopt;
    }
    if (o_.max_addresses_per_host != 0 && addresses.addresses.size() > o_.max_addresses_per_host)
      addresses.addresses.resize(o_.max_addresses_per_host);
    for (const std::string& address : addresses.addresses) {
      AttemptTarget target{host.name, address, o_.mx_port};
      AttemptSettings settings;
      settings.helo_name = o_.helo_name;
      settings.ssl_ctx = ctx_;
      settings.deadline = o_.attempt_deadline;
      settings.connect_timeout = o_.connect_timeout;
      settings.cache = &connections_;
      AttemptResult r = attempt(target, req, message_, settings);
      if (r.retry_cleartext) {
        log(host.name, address, &req, &r, outcome_text(r.failure));
        settings.cleartext = true;
        r = attempt(target, req, message_, settings);
      }
      if (r.recipients) {
        log(host.name, address, &req, &r, outcomes_summary(*r.recipients));
        for (Outcome& o : *r.recipients) {  // Remote-MTA of a "relayed" DSN (RFC 3464 §2.3.5)
          if (auto* delivered = std::get_if<Delivered>(&o)) delivered->remote_mta = host.name;
        }
        return std::move(*r.recipients);
      }
      last = r.failure;
      log(host.name, address, &req, &r, outcome_text(r.failure));
    }
    return std::nullopt;
  }

  // Does the chain get as far as mta-sts for this host? Not when an earlier policy (DANE)
  // already decides: then the policy is not looked up at all.
  bool reaches_mta_sts(const tls::PolicyInput& in) const {
    auto at = std::find(chain_.begin(), chain_.end(), tls::PolicyKind::kMtaSts);
    if (at == chain_.end()) return false;
    tls::Requirement without = tls::decide(in);  // in.mta_sts unset: mta-sts passes
    return std::find(chain_.begin(), chain_.end(), without.policy) >= at;
  }

  // The domain's policy, discovered on first use in this run (one TXT lookup, maybe a fetch).
  const std::optional<tls::MtaStsPolicy>& mta_sts_policy() {
    if (!mta_sts_) {
      mta_sts_ = mta_sts_discovery_.discover(domain_, resolver_);
      if (!mta_sts_->note.empty()) emit(mta_sts_->note);
    }
    return mta_sts_->policy;
  }

  std::vector<Outcome> all(const Outcome& o) const {
    return std::vector<Outcome>(message_.recipients.size(), o);
  }

  void log(const std::string& mx, const std::string& address, const tls::Requirement* req,
           const AttemptResult* r, const std::string& result) const {
    std::string tls = r && !r->tls_version.empty() ? r->tls_version : "none";
    std::string policy = req ? tls::policy_name(req->policy) : "-";
    std::string verified = r ? r->verified : "none";
    // Issue 6: say which policy vouched for the peer; under mta-sts that is PKIX + the MX name.
    if (req && req->policy == tls::PolicyKind::kMtaSts && verified == "pkix") verified = "mta-sts";
    std::string line = "remote delivery: domain=" + domain_ + " mx=" + mx + " address=" + address +
                       " policy=" + policy + " tls=" + tls +
                       " cipher=" + (r && !r->cipher.empty() ? r->cipher : "-") +
                       " verified=" + verified + " result=" + result;
    // The reason adds what the result does not say already (how TLS went, why it was judged).
    if (r && !r->reason.empty() && result.find(r->reason) == std::string::npos)
      line += " reason=\"" + r->reason + "\"";
    // RFC 8461 §5 testing: delivery went ahead; record what enforce would have done.
    if (req && r && !req->mta_sts_testing.empty())
      line += " note=\"" + tls::mta_sts_testing_outcome(*req, r->tls_version, r->verified) + "\"";
    // The TLS fields above are those of the kept connection's handshake.
    if (r && r->reused) line += " conn=reused";
    emit(line);
  }

  void emit(const std::string& line) const {
    if (o_.log) {
      o_.log(line);
    } else {
      spdlog::info("{}", line);
    }
  }

  const RemoteOptions& o_;
  SSL_CTX* ctx_;
  MtaStsDiscovery& mta_sts_discovery_;
  ConnectionCache& connections_;
  dns::BlockingResolver& resolver_;
  std::string domain_;
  const smtp::OutgoingMessage& message_;
  std::vector<tls::PolicyKind> chain_;
  std::optional<MtaStsFound> mta_sts_;  // discovered on first use
  std::size_t decided_ = 0;             // hosts that got as far as tls::decide
  std::size_t not_listed_ = 0;          // of those, skipped by an enforced MTA-STS policy
};

}  // namespace

// The MX set must come from DNSSEC or an MTA-STS policy, and the server must be verified (DANE,
// or PKIX under that authenticated MX set).
bool meets_requiretls(const tls::Requirement& req, tls::DnsStatus mx_status) {
  if (req.defer || !req.tls_required || req.verification == tls::Verification::kNone) return false;
  if (req.verification == tls::Verification::kDane) return true;
  return req.policy == tls::PolicyKind::kMtaSts ||
         (req.policy == tls::PolicyKind::kVerify && mx_status == tls::DnsStatus::kSecure);
}

Outcome requiretls_refusal(std::string_view domain, std::string_view mx_host) {
  // RFC 8689 §4.2.1 names the codes for a failed REQUIRETLS delivery: 5.7.30 when the server
  // lacks REQUIRETLS (smtp::ClientSession says that one), 5.7.10 "Encryption needed" when no
  // TLS session meeting the requirements can be had, as here, before any connection.
  // Permanent: the destination publishes nothing that would authenticate it, retrying will not
  // change that, and the sender asked for nothing weaker.
  return PermFail{"550 5.7.10 REQUIRETLS: " + std::string(domain) + " (MX " + std::string(mx_host) +
                  ") cannot be authenticated by DNSSEC with DANE or by MTA-STS"};
}

RemoteDelivery::RemoteDelivery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RemoteDelivery::~RemoteDelivery() = default;

std::expected<std::unique_ptr<RemoteDelivery>, std::string> RemoteDelivery::create(
    RemoteOptions options) {
  // Not enforcing: the handshake completes and tls::evaluate() judges the peer, so `encrypt`
  // and `may` can use an unverified peer and the log can say why a peer failed verification.
  auto ctx = tls::make_client_context({options.ca_file, /*enforce=*/false});
  if (!ctx) return std::unexpected(ctx.error());
  // Fail early on a bad resolver setup rather than deferring every message; the resolver made
  // to check is the pool's first.
  auto first = dns::BlockingResolver::create(options.resolver);
  if (!first) return std::unexpected("resolver: " + first.error());
  auto impl = std::make_unique<Impl>(std::move(options), std::move(*ctx), std::move(*first));
  return std::unique_ptr<RemoteDelivery>(new RemoteDelivery(std::move(impl)));
}

std::vector<Outcome> RemoteDelivery::deliver(std::string_view domain,
                                             const RemoteMessage& message) {
  std::string d(domain);
  if (!d.empty() && d.back() == '.') d.pop_back();
  std::transform(d.begin(), d.end(), d.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto resolver = impl_->resolvers.take();
  if (!resolver)
    return std::vector<Outcome>(message.recipients.size(),
                                defer("4.4.3", "resolver: " + resolver.error()));
  ResolverPool::Lease lease(impl_->resolvers, std::move(*resolver));
  return Run(*impl_, *lease, d, message).deliver();
}

}  // namespace sealpost::delivery::remote
