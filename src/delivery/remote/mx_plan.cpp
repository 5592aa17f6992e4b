// plan_mx / plan_addresses / outcome mapping: see mx_plan.hpp. RFC 5321 §5.1 (MX order,
// implicit MX), RFC 7505 (null MX), RFC 3463 (enhanced status codes for our own verdicts).
#include "delivery/remote/mx_plan.hpp"

#include <algorithm>
#include <cctype>

namespace sealpost::delivery::remote {

namespace {

std::string host_name(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

tls::DnsStatus weaker(tls::DnsStatus a, tls::DnsStatus b) {
  auto rank = [](tls::DnsStatus s) {
    switch (s) {
      case tls::DnsStatus::kSecure:
        return 0;
      case tls::DnsStatus::kInsecure:
        return 1;
      case tls::DnsStatus::kFailed:
        return 2;
      case tls::DnsStatus::kBogus:
        return 3;
    }
    return 3;
  };
  return rank(a) >= rank(b) ? a : b;
}

// The reply text of a decided recipient, or our own words when no server reply decided it.
std::string reply_text(const smtp::Reply& reply, const std::string& detail,
                       std::string_view fallback) {
  if (reply.code != 0) return reply.summary();
  return std::string(fallback) + (detail.empty() ? "no reply" : detail);
}

}  // namespace

Outcome defer(std::string_view enhanced, std::string_view text) {
  return TempFail{"451 " + std::string(enhanced) + " " + std::string(text)};
}

Outcome bounce(int code, std::string_view enhanced, std::string_view text) {
  return PermFail{std::to_string(code) + " " + std::string(enhanced) + " " + std::string(text)};
}

std::string outcome_text(const Outcome& outcome) {
  if (std::holds_alternative<Delivered>(outcome)) return "delivered";
  if (auto* t = std::get_if<TempFail>(&outcome)) return t->reply;
  return std::get<PermFail>(outcome).reply;
}

std::string outcomes_summary(const std::vector<Outcome>& outcomes) {
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

tls::DnsStatus dns_status(const dns::Result& answer) {
  if (!answer) return tls::DnsStatus::kFailed;
  if (answer->bogus()) return tls::DnsStatus::kBogus;
  if (answer->rcode != dns::kRcodeNoError && !answer->nxdomain) return tls::DnsStatus::kFailed;
  return answer->secure() ? tls::DnsStatus::kSecure : tls::DnsStatus::kInsecure;
}

void cap_hosts(MxPlan& plan, std::size_t max_hosts) {
  if (max_hosts != 0 && plan.hosts.size() > max_hosts) plan.hosts.resize(max_hosts);
}

std::expected<MxPlan, Outcome> plan_mx(std::string_view domain, const dns::Result& answer,
                                       std::mt19937* rng) {
  std::string d = host_name(domain);
  if (!answer)
    return std::unexpected(defer("4.4.3", "MX lookup for " + d + " failed: " + answer.error()));
  if (answer->bogus())  // RFC 7672 §2.1.1: never act on a bogus answer
    return std::unexpected(
        defer("4.7.5", "MX lookup for " + d + " is DNSSEC-bogus: " + answer->why_bogus));
  if (answer->nxdomain)
    return std::unexpected(bounce(550, "5.1.2", "domain " + d + " does not exist"));
  if (answer->rcode != dns::kRcodeNoError)
    return std::unexpected(
        defer("4.4.3", "MX lookup for " + d + " failed: rcode " + std::to_string(answer->rcode)));
  if (answer->null_mx())  // RFC 7505 §4.2
    return std::unexpected(bounce(556, "5.1.10", d + " accepts no mail (null MX)"));

  MxPlan plan;
  plan.status = answer->secure() ? tls::DnsStatus::kSecure : tls::DnsStatus::kInsecure;
  if (!answer->has_data) {  // RFC 5321 §5.1: no MX: the domain is its own (implicit) MX
    plan.implicit = true;
    plan.hosts.push_back({d, 0});
    return plan;
  }
  auto records = answer->mx();
  for (const dns::MxRecord& r : records.records) {
    if (r.exchange == ".") continue;  // RFC 7505 §3: a null MX among others is ignored
    std::string name = host_name(r.exchange);
    auto same = [&](const MxHost& h) { return h.name == name; };
    auto it = std::find_if(plan.hosts.begin(), plan.hosts.end(), same);
    if (it == plan.hosts.end()) {
      plan.hosts.push_back({name, r.preference});
    } else {
      it->preference = std::min(it->preference, r.preference);
    }
  }
  if (plan.hosts.empty()) return std::unexpected(defer("4.4.3", "no usable MX record for " + d));
  if (rng) std::shuffle(plan.hosts.begin(), plan.hosts.end(), *rng);
  std::stable_sort(plan.hosts.begin(), plan.hosts.end(),
                   [](const MxHost& a, const MxHost& b) { return a.preference < b.preference; });
  return plan;
}

AddressPlan plan_addresses(std::string_view host, const dns::Result& aaaa, const dns::Result& a) {
  AddressPlan plan;
  // Only families that answered count: a timed-out family is indeterminate, never "insecure",
  // or an attacker who drops one query would turn off DANE (RFC 7672 §2.1.1).
  bool answered = false;
  for (const dns::Result* r : {&aaaa, &a}) {
    tls::DnsStatus s = dns_status(*r);
    if (s == tls::DnsStatus::kFailed) continue;
    plan.status = answered ? weaker(plan.status, s) : s;
    answered = true;
  }
  if (!answered) plan.status = tls::DnsStatus::kFailed;
  std::string h = host_name(host);
  if (plan.status == tls::DnsStatus::kBogus) {
    plan.error = "address lookup for " + h + " is DNSSEC-bogus";
    return plan;
  }
  for (const dns::Result* r : {&aaaa, &a}) {
    if (dns_status(*r) == tls::DnsStatus::kFailed || !(*r)->has_data) continue;
    for (const std::string& address : (*r)->addresses().records) plan.addresses.push_back(address);
  }
  if (plan.addresses.empty()) {
    bool failed =
        dns_status(aaaa) == tls::DnsStatus::kFailed || dns_status(a) == tls::DnsStatus::kFailed;
    plan.error = failed ? "address lookup for " + h + " failed" : h + " has no address";
  }
  return plan;
}

Outcome recipient_outcome(const smtp::RecipientResult& r, const smtp::TransactionResult& t) {
  smtp::Outcome o = r.outcome != smtp::Outcome::kPending ? r.outcome : t.outcome;
  const smtp::Reply& reply = r.reply.code != 0 ? r.reply : t.reply;
  switch (o) {
    case smtp::Outcome::kDelivered: {
      // The server took it: a success DSN, if one is owed, says "relayed" (RFC 3461 §5.2.2),
      // or nothing when the server took the DSN parameters and reports itself (§5.2.1).
      Delivered delivered;
      delivered.relayed = true;
      delivered.dsn_passed_on = t.dsn_passed_on;
      if (reply.code != 0) delivered.reply = reply.summary();
      return delivered;
    }
    case smtp::Outcome::kPermFail:
      if (reply.code != 0 && reply.permanent()) return PermFail{reply.summary()};
      // Refused by us before the server could say (SMTPUTF8 or 8BITMIME missing, RFC 6531 §3.2).
      return bounce(554, smtp::local_refusal_code(t.reason), reply_text(reply, t.detail, ""));
    case smtp::Outcome::kTempFail:
    case smtp::Outcome::kPending:
      break;
  }
  if (reply.code != 0 && reply.transient()) return TempFail{reply.summary()};
  return defer("4.4.2", reply_text(reply, t.detail, ""));
}

Outcome session_outcome(const smtp::SessionFailure& f) {
  std::string detail =
      f.detail.empty() ? std::string(smtp::failure_reason_name(f.reason)) : f.detail;
  if (f.reply.code != 0 && f.reply.permanent()) return PermFail{f.reply.summary()};
  if (f.reply.code != 0) return TempFail{f.reply.summary()};
  return defer("4.4.2", detail);
}

}  // namespace sealpost::delivery::remote
