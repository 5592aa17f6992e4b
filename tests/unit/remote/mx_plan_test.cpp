// delivery::remote decision logic: MX order and fallback (RFC 5321 §5.1), null MX (RFC 7505),
// implicit MX, DNSSEC status handling, address plans, and SMTP results -> delivery Outcomes.
#include "delivery/remote/mx_plan.hpp"

#include <gtest/gtest.h>

#include <random>

namespace sealpost::delivery::remote {
namespace {

std::vector<std::uint8_t> mx_rdata(std::uint16_t pref, const std::string& name) {
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(pref >> 8),
                                static_cast<std::uint8_t>(pref & 0xff)};
  std::size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out.push_back(static_cast<std::uint8_t>(dot - start));
    out.insert(out.end(), name.begin() + start, name.begin() + dot);
    start = dot + 1;
  }
  out.push_back(0);
  return out;
}

dns::Answer answer(dns::RrType type, dns::Security sec = dns::Security::kSecure) {
  dns::Answer a;
  a.qname = "example.test";
  a.qtype = type;
  a.security = sec;
  return a;
}

dns::Answer mx_answer(std::vector<std::pair<int, std::string>> mx,
                      dns::Security sec = dns::Security::kSecure) {
  dns::Answer a = answer(dns::RrType::kMx, sec);
  for (auto& [pref, name] : mx) a.rdata.push_back(mx_rdata(pref, name));
  a.has_data = !a.rdata.empty();
  return a;
}

dns::Answer addr(dns::RrType type, std::vector<std::vector<std::uint8_t>> rdata,
                 dns::Security sec = dns::Security::kSecure) {
  dns::Answer a = answer(type, sec);
  a.rdata = std::move(rdata);
  a.has_data = !a.rdata.empty();
  return a;
}

std::vector<std::string> names(const MxPlan& p) {
  std::vector<std::string> out;
  for (const auto& h : p.hosts) out.push_back(h.name);
  return out;
}

std::string reply_of(const Outcome& o) { return outcome_text(o); }

TEST(MxPlan, PreferenceOrderLowestFirst) {
  auto p =
      plan_mx("Example.Test.",
              mx_answer({{20, "b.example.test"}, {10, "A.example.test"}, {30, "c.example.test"}}));
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p),
            (std::vector<std::string>{"a.example.test", "b.example.test", "c.example.test"}));
  EXPECT_FALSE(p->implicit);
  EXPECT_EQ(p->status, tls::DnsStatus::kSecure);
}

TEST(MxPlan, EqualPreferenceKeepsAnswerOrderWithoutRng) {
  auto p = plan_mx("example.test", mx_answer({{10, "x"}, {10, "y"}, {5, "z"}}));
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"z", "x", "y"}));
}

TEST(MxPlan, EqualPreferenceShuffledButGroupsStayOrdered) {
  std::mt19937 rng(1);
  bool saw_other_order = false;
  for (int i = 0; i < 50; ++i) {
    auto p = plan_mx("example.test", mx_answer({{10, "a"}, {10, "b"}, {10, "c"}, {20, "d"}}), &rng);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->hosts.back().name, "d");
    if (p->hosts.front().name != "a") saw_other_order = true;
  }
  EXPECT_TRUE(saw_other_order);
}

TEST(MxPlan, DuplicatesMergedAtLowestPreference) {
  auto p = plan_mx("example.test", mx_answer({{30, "a"}, {10, "b"}, {5, "a."}}));
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p->hosts[0].preference, 5);
}

TEST(MxPlan, NullMxBounces) {
  auto p = plan_mx("example.test", mx_answer({{0, ""}}));
  ASSERT_FALSE(p);
  ASSERT_TRUE(std::holds_alternative<PermFail>(p.error()));
  EXPECT_EQ(reply_of(p.error()).substr(0, 10), "556 5.1.10");
}

TEST(MxPlan, NullMxAmongOthersIsIgnored) {
  auto p = plan_mx("example.test", mx_answer({{0, ""}, {10, "mx"}}));
  ASSERT_TRUE(p);
  EXPECT_EQ(names(*p), std::vector<std::string>{"mx"});
}

TEST(MxPlan, NoMxMeansImplicitMx) {
  auto p = plan_mx("Example.test", mx_answer({}, dns::Security::kInsecure));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->implicit);
  EXPECT_EQ(names(*p), std::vector<std::string>{"example.test"});
  EXPECT_EQ(p->status, tls::DnsStatus::kInsecure);
}

TEST(MxPlan, NxdomainBounces) {
  dns::Answer a = mx_answer({});
  a.nxdomain = true;
  a.rcode = dns::kRcodeNxDomain;
  auto p = plan_mx("example.test", a);
  ASSERT_FALSE(p);
  EXPECT_TRUE(std::holds_alternative<PermFail>(p.error()));
  EXPECT_EQ(reply_of(p.error()).substr(0, 9), "550 5.1.2");
}

TEST(MxPlan, BogusServfailAndErrorsDefer) {
  auto bogus = mx_answer({{10, "mx"}}, dns::Security::kBogus);
  bogus.why_bogus = "signature expired";
  auto p = plan_mx("example.test", bogus);
  ASSERT_FALSE(p);
  EXPECT_TRUE(std::holds_alternative<TempFail>(p.error()));
  EXPECT_NE(reply_of(p.error()).find("4.7.5"), std::string::npos);
  EXPECT_NE(reply_of(p.error()).find("signature expired"), std::string::npos);

  auto servfail = mx_answer({});
  servfail.rcode = dns::kRcodeServFail;
  p = plan_mx("example.test", servfail);
  ASSERT_FALSE(p);
  EXPECT_EQ(reply_of(p.error()).substr(0, 9), "451 4.4.3");

  p = plan_mx("example.test", std::unexpected(std::string("timed out")));
  ASSERT_FALSE(p);
  EXPECT_NE(reply_of(p.error()).find("timed out"), std::string::npos);
}

TEST(MxPlan, MalformedOnlyDefers) {
  dns::Answer a = mx_answer({});
  a.rdata.push_back({0x00});  // truncated
  a.has_data = true;
  auto p = plan_mx("example.test", a);
  ASSERT_FALSE(p);
  EXPECT_TRUE(std::holds_alternative<TempFail>(p.error()));
}

TEST(MxPlan, CapKeepsTheFirstHostsInOrder) {
  auto p = plan_mx("example.test", mx_answer({{10, "a.test"}, {20, "b.test"}, {30, "c.test"}}));
  ASSERT_TRUE(p);
  cap_hosts(*p, 2);
  EXPECT_EQ(names(*p), (std::vector<std::string>{"a.test", "b.test"}));
  cap_hosts(*p, 0);  // no limit
  EXPECT_EQ(p->hosts.size(), 2u);
  cap_hosts(*p, 5);
  EXPECT_EQ(p->hosts.size(), 2u);
}

TEST(AddressPlan, Ipv6FirstThenIpv4) {
  auto p = plan_addresses("mx", addr(dns::RrType::kAaaa, {std::vector<std::uint8_t>(15, 0)}),
                          addr(dns::RrType::kA, {{127, 0, 0, 1}, {127, 0, 0, 2}}));
  EXPECT_EQ(p.addresses, (std::vector<std::string>{"127.0.0.1", "127.0.0.2"}))
      << "a malformed AAAA is skipped";
  std::vector<std::uint8_t> v6(16, 0);
  v6[15] = 1;
  p = plan_addresses("mx", addr(dns::RrType::kAaaa, {v6}), addr(dns::RrType::kA, {{127, 0, 0, 1}}));
  EXPECT_EQ(p.addresses, (std::vector<std::string>{"::1", "127.0.0.1"}));
  EXPECT_EQ(p.status, tls::DnsStatus::kSecure);
}

TEST(AddressPlan, WeakestStatusWins) {
  auto p = plan_addresses("mx", addr(dns::RrType::kAaaa, {}, dns::Security::kInsecure),
                          addr(dns::RrType::kA, {{127, 0, 0, 1}}));
  EXPECT_EQ(p.status, tls::DnsStatus::kInsecure);
}

TEST(AddressPlan, BogusPoisonsTheHost) {
  auto p = plan_addresses("mx", addr(dns::RrType::kAaaa, {}),
                          addr(dns::RrType::kA, {{127, 0, 0, 1}}, dns::Security::kBogus));
  EXPECT_TRUE(p.addresses.empty()) << "a forged address is never used";
  EXPECT_EQ(p.status, tls::DnsStatus::kBogus);
  EXPECT_NE(p.error.find("bogus"), std::string::npos);
}

TEST(AddressPlan, NoAddressOrFailure) {
  auto none = plan_addresses("mx", addr(dns::RrType::kAaaa, {}), addr(dns::RrType::kA, {}));
  EXPECT_TRUE(none.addresses.empty());
  EXPECT_NE(none.error.find("no address"), std::string::npos);
  auto failed = plan_addresses("mx", std::unexpected(std::string("timeout")),
                               addr(dns::RrType::kA, {{127, 0, 0, 1}}));
  EXPECT_EQ(failed.addresses, std::vector<std::string>{"127.0.0.1"});
  auto both = plan_addresses("mx", std::unexpected(std::string("timeout")),
                             std::unexpected(std::string("timeout")));
  EXPECT_TRUE(both.addresses.empty());
  EXPECT_EQ(both.status, tls::DnsStatus::kFailed);
  EXPECT_NE(both.error.find("failed"), std::string::npos);
}

// A family that times out or SERVFAILs is indeterminate: it must not make the secure family
// "insecure" (that would skip TLSA and let an attacker downgrade DANE to may).
TEST(AddressPlan, FailedFamilyIsNotADowngrade) {
  auto timeout = plan_addresses("mx", std::unexpected(std::string("timeout")),
                                addr(dns::RrType::kA, {{127, 0, 0, 1}}));
  EXPECT_EQ(timeout.addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(timeout.status, tls::DnsStatus::kSecure);
  dns::Answer servfail = addr(dns::RrType::kA, {}, dns::Security::kInsecure);
  servfail.rcode = 2;
  std::vector<std::uint8_t> v6(16, 0);
  v6[15] = 1;
  auto half = plan_addresses("mx", addr(dns::RrType::kAaaa, {v6}), servfail);
  EXPECT_EQ(half.addresses, std::vector<std::string>{"::1"});
  EXPECT_EQ(half.status, tls::DnsStatus::kSecure);
  auto insecure = plan_addresses("mx", std::unexpected(std::string("timeout")),
                                 addr(dns::RrType::kA, {{127, 0, 0, 1}}, dns::Security::kInsecure));
  EXPECT_EQ(insecure.status, tls::DnsStatus::kInsecure);
}

TEST(Outcomes, PerRecipient) {
  smtp::TransactionResult t;
  t.outcome = smtp::Outcome::kDelivered;
  t.reply = smtp::make_reply(250, "2.0.0", "queued");
  smtp::RecipientResult ok{"a@x", smtp::Outcome::kDelivered, {}};
  smtp::RecipientResult gone{"b@x", smtp::Outcome::kPermFail,
                             smtp::make_reply(550, "5.1.1", "no such user")};
  smtp::RecipientResult later{"c@x", smtp::Outcome::kTempFail,
                              smtp::make_reply(451, "4.2.0", "later")};
  EXPECT_TRUE(std::holds_alternative<Delivered>(recipient_outcome(ok, t)));
  EXPECT_EQ(reply_of(recipient_outcome(gone, t)), "550 5.1.1 no such user");
  EXPECT_EQ(reply_of(recipient_outcome(later, t)), "451 4.2.0 later");
}

TEST(Outcomes, LocalRefusalBouncesWithTheRightCode) {
  smtp::TransactionResult t;
  t.outcome = smtp::Outcome::kPermFail;
  t.reason = smtp::FailureReason::kSmtpUtf8Unsupported;
  t.detail = "server lacks SMTPUTF8";
  smtp::RecipientResult r{"a@x", smtp::Outcome::kPending, {}};
  auto o = recipient_outcome(r, t);
  ASSERT_TRUE(std::holds_alternative<PermFail>(o));
  EXPECT_EQ(reply_of(o).substr(0, 9), "554 5.6.7");
  t.reason = smtp::FailureReason::kUtf8HeadersUnsupported;  // RFC 6531's X.6.9: UTF-8 headers
  EXPECT_EQ(reply_of(recipient_outcome(r, t)).substr(0, 9), "554 5.6.9");
  t.reason = smtp::FailureReason::kEightBitUnsupported;  // RFC 3463: conversion not supported
  EXPECT_EQ(reply_of(recipient_outcome(r, t)).substr(0, 9), "554 5.6.3");
}

TEST(Outcomes, SessionFailures) {
  smtp::SessionFailure timeout{smtp::FailureReason::kTimeout, {}, "timed out"};
  EXPECT_EQ(reply_of(session_outcome(timeout)), "451 4.4.2 timed out");
  smtp::SessionFailure busy{smtp::FailureReason::kGreeting, smtp::make_reply(421, "4.3.2", "busy"),
                            ""};
  EXPECT_TRUE(std::holds_alternative<TempFail>(session_outcome(busy)));
  smtp::SessionFailure no{smtp::FailureReason::kGreeting, smtp::make_reply(554, "5.3.2", "no"), ""};
  EXPECT_TRUE(std::holds_alternative<PermFail>(session_outcome(no)));
}

}  // namespace
}  // namespace sealpost::delivery::remote
