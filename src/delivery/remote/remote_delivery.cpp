// RemoteDelivery::deliver: MX plan -> for each host: addresses, TLSA (only under a secure MX,
// RFC 7672 §2.2.1), tls::decide -> for each address: attempt(). The first attempt that gets
// the message judged ends the run; every other failure moves on to the next address and MX,
// and the last one is what the recipients get (RFC 5321 §5.1).
#include "delivery/remote/remote_delivery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <random>

#include "delivery/remote/attempt.hpp"
#include "delivery/remote/mx_plan.hpp"
#include "tls/client_verify.hpp"

namespace sealpost::delivery::remote {

struct RemoteDelivery::Impl {
  RemoteOptions options;
  tls::SslCtxPtr ssl_ctx;
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
  Run(const RemoteDelivery::Impl& impl, dns::BlockingResolver& resolver, std::string domain,
      const smtp::OutgoingMessage& message)
      : o_(impl.options),
        ctx_(impl.ssl_ctx.get()),
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
      log("-", "-", "-", nullptr, outcome_text(plan.error()));
      return all(plan.error());
    }
    cap_hosts(*plan, o_.max_mx_hosts);
    Outcome last = defer("4.4.1", "no MX host of " + domain_ + " could be tried");
    for (const MxHost& host : plan->hosts) {
      if (auto done = try_host(*plan, host, last)) return *done;
    }
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
      log(host.name, "-", "-", nullptr, outcome_text(last));
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
    tls::Requirement req = tls::decide(in);
    if (req.defer) {
      last = defer("4.7.5", req.reason);
      log(host.name, "-", "-", nullptr, outcome_text(last));
      return std::nullopt;
    }
    if (o_.max_addresses_per_host != 0 && addresses.addresses.size() > o_.max_addresses_per_host)
      addresses.addresses.resize(o_.max_addresses_per_host);
    for (const std::string& address : addresses.addresses) {
      AttemptTarget target{host.name, address, o_.mx_port};
      AttemptSettings settings{o_.helo_name, ctx_, o_.attempt_deadline, o_.connect_timeout, false};
      AttemptResult r = attempt(target, req, message_, settings);
      if (r.retry_cleartext) {
        log(host.name, address, policy(req), &r, outcome_text(r.failure));
        settings.cleartext = true;
        r = attempt(target, req, message_, settings);
      }
      if (r.recipients) {
        log(host.name, address, policy(req), &r, summary(*r.recipients));
        return std::move(*r.recipients);
      }
      last = r.failure;
      log(host.name, address, policy(req), &r, outcome_text(r.failure));
    }
    return std::nullopt;
  }

  static std::string policy(const tls::Requirement& req) { return tls::policy_name(req.policy); }

  std::string summary(const std::vector<Outcome>& outcomes) const {
    std::size_t delivered = 0, deferred = 0, bounced = 0;
    std::string first_failure;
    for (const Outcome& o : outcomes) {
      if (std::holds_alternative<Delivered>(o)) {
        ++delivered;
        continue;
      }
      (std::holds_alternative<TempFail>(o) ? deferred : bounced)++;
      if (first_failure.empty()) first_failure = outcome_text(o);
    }
    std::string s = "delivered=" + std::to_string(delivered) +
                    " deferred=" + std::to_string(deferred) + " bounced=" + std::to_string(bounced);
    if (!first_failure.empty()) s += " (" + first_failure + ")";
    return s;
  }

  std::vector<Outcome> all(const Outcome& o) const {
    return std::vector<Outcome>(message_.recipients.size(), o);
  }

  void log(const std::string& mx, const std::string& address, const std::string& policy,
           const AttemptResult* r, const std::string& result) const {
    std::string tls = r && !r->tls_version.empty() ? r->tls_version : "none";
    std::string line = "remote delivery: domain=" + domain_ + " mx=" + mx + " address=" + address +
                       " policy=" + policy + " tls=" + tls +
                       " cipher=" + (r && !r->cipher.empty() ? r->cipher : "-") +
                       " verified=" + (r ? r->verified : std::string("none")) + " result=" + result;
    // The reason adds what the result does not say already (how TLS went, why it was judged).
    if (r && !r->reason.empty() && result.find(r->reason) == std::string::npos)
      line += " reason=\"" + r->reason + "\"";
    if (o_.log) {
      o_.log(line);
    } else {
      spdlog::info("{}", line);
    }
  }

  const RemoteOptions& o_;
  SSL_CTX* ctx_;
  dns::BlockingResolver& resolver_;
  std::string domain_;
  const smtp::OutgoingMessage& message_;
  std::vector<tls::PolicyKind> chain_;
};

}  // namespace

RemoteDelivery::RemoteDelivery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RemoteDelivery::~RemoteDelivery() = default;

std::expected<std::unique_ptr<RemoteDelivery>, std::string> RemoteDelivery::create(
    RemoteOptions options) {
  // Not enforcing: the handshake completes and tls::evaluate() judges the peer, so `encrypt`
  // and `may` can use an unverified peer and the log can say why a peer failed verification.
  auto ctx = tls::make_client_context({options.ca_file, /*enforce=*/false});
  if (!ctx) return std::unexpected(ctx.error());
  // Fail early on a bad resolver setup rather than deferring every message.
  if (auto probe = dns::BlockingResolver::create(options.resolver); !probe)
    return std::unexpected("resolver: " + probe.error());
  auto impl = std::make_unique<Impl>(Impl{std::move(options), std::move(*ctx)});
  return std::unique_ptr<RemoteDelivery>(new RemoteDelivery(std::move(impl)));
}

std::vector<Outcome> RemoteDelivery::deliver(std::string_view domain,
                                             const RemoteMessage& message) {
  std::string d(domain);
  if (!d.empty() && d.back() == '.') d.pop_back();
  std::transform(d.begin(), d.end(), d.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  auto resolver = dns::BlockingResolver::create(impl_->options.resolver);
  if (!resolver)
    return std::vector<Outcome>(message.recipients.size(),
                                defer("4.4.3", "resolver: " + resolver.error()));
  smtp::OutgoingMessage out{message.reverse_path, message.recipients, message.content,
                            message.smtputf8, false};
  return Run(*impl_, *resolver, d, out).deliver();
}

}  // namespace sealpost::delivery::remote
