// REQUIRETLS (RFC 8689 §4.2.1) in remote delivery: which requirements tls::decide() hands out
// may carry a REQUIRETLS message (an authenticated MX set and a verified server), and the
// permanent failure, with the code §4.2.1 names, for a host that cannot be authenticated.
#include <gtest/gtest.h>

#include "delivery/remote/mx_plan.hpp"
#include "delivery/remote/remote_delivery.hpp"

namespace sealpost::delivery::remote {
namespace {

using tls::DnsStatus;
using tls::PolicyKind;

tls::Tlsa dane_ee() { return tls::Tlsa{3, 1, 1, std::vector<std::uint8_t>(32, 0xab)}; }

tls::PolicyInput input(DnsStatus mx, std::vector<PolicyKind> chain = tls::kDefaultPolicyChain) {
  tls::PolicyInput in;
  in.chain = std::move(chain);
  in.domain = "example.test";
  in.mx_host = "mx.example.test";
  in.mx_status = mx;
  return in;
}

tls::MtaStsPolicy sts(tls::MtaStsPolicy::Mode mode) {
  return tls::MtaStsPolicy{mode, {"mx.example.test"}, 86400};
}

bool meets(const tls::PolicyInput& in) { return meets_requiretls(tls::decide(in), in.mx_status); }

TEST(RequireTls, DaneWithUsableTlsaMeetsIt) {
  auto in = input(DnsStatus::kSecure);
  in.tlsa_status = DnsStatus::kSecure;
  in.tlsa = {dane_ee()};
  in.tlsa_present = true;
  EXPECT_TRUE(meets(in));
}

TEST(RequireTls, DaneWithOnlyUnusableTlsaDoesNot) {
  // RFC 7672 §2.2: TLS is mandatory there, but nothing authenticates the server.
  auto in = input(DnsStatus::kSecure);
  in.tlsa_status = DnsStatus::kSecure;
  in.tlsa = {tls::Tlsa{1, 1, 1, std::vector<std::uint8_t>(32, 0xab)}};
  in.tlsa_present = true;
  EXPECT_FALSE(meets(in));
}

TEST(RequireTls, OpportunisticPoliciesDoNot) {
  EXPECT_FALSE(meets(input(DnsStatus::kInsecure)));  // default chain: `may`
  EXPECT_FALSE(meets(input(DnsStatus::kSecure)));    // secure MX, no TLSA: `may`
  EXPECT_FALSE(meets(input(DnsStatus::kSecure, {PolicyKind::kEncrypt})));
  EXPECT_FALSE(meets(input(DnsStatus::kSecure, {PolicyKind::kNone})));
}

TEST(RequireTls, VerifyNeedsASecureMxSet) {
  // PKIX checks the MX name; only DNSSEC says that name is the domain's MX.
  EXPECT_TRUE(meets(input(DnsStatus::kSecure, {PolicyKind::kVerify})));
  EXPECT_FALSE(meets(input(DnsStatus::kInsecure, {PolicyKind::kVerify})));
}

TEST(RequireTls, MtaStsEnforceMeetsItTestingDoesNot) {
  auto enforce = input(DnsStatus::kInsecure);
  enforce.mta_sts = sts(tls::MtaStsPolicy::Mode::kEnforce);
  EXPECT_TRUE(meets(enforce));
  auto testing = input(DnsStatus::kInsecure);
  testing.mta_sts = sts(tls::MtaStsPolicy::Mode::kTesting);
  EXPECT_FALSE(meets(testing));
}

TEST(RequireTls, ADeferredHostNeverMeetsIt) {
  auto in = input(DnsStatus::kSecure);
  in.tlsa_status = DnsStatus::kBogus;
  ASSERT_TRUE(tls::decide(in).defer);
  EXPECT_FALSE(meets(in));
}

TEST(RequireTls, RefusalIsPermanentWith5710) {
  Outcome o = requiretls_refusal("example.test", "mx.example.test");
  const auto* fail = std::get_if<PermFail>(&o);
  ASSERT_NE(fail, nullptr) << outcome_text(o);
  EXPECT_EQ(fail->reply,
            "550 5.7.10 REQUIRETLS: example.test (MX mx.example.test) cannot be authenticated by "
            "DNSSEC with DANE or by MTA-STS");
}

}  // namespace
}  // namespace sealpost::delivery::remote
