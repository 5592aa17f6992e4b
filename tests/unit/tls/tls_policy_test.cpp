// tls::decide / tls::evaluate: the RFC 7672 chain walk and the post-EHLO verdict, for every
// DNSSEC state, every policy and every way TLS can be missing, failed or unverified.
#include "tls/policy.hpp"

#include <gtest/gtest.h>

namespace sealpost::tls {
namespace {

using K = Verdict::Kind;

Tlsa rec(std::uint8_t usage) { return Tlsa{usage, 1, 1, std::vector<std::uint8_t>(32, 0xab)}; }

PolicyInput input(DnsStatus mx, DnsStatus tlsa, std::vector<Tlsa> records = {},
                  std::vector<PolicyKind> chain = kDefaultPolicyChain) {
  PolicyInput in;
  in.chain = std::move(chain);
  in.domain = "example.test";
  in.mx_host = "mx.example.test";
  in.mx_status = mx;
  in.tlsa_status = tlsa;
  in.tlsa = std::move(records);
  return in;
}

PeerResult peer(bool verified, std::string method) {
  PeerResult p;
  p.handshake_done = true;
  p.verified = verified;
  p.method = std::move(method);
  if (!verified) p.reason = "certificate verify failed";
  return p;
}

TlsObservation tls_up(const PeerResult& p) { return TlsObservation{true, true, true, "", &p}; }

TEST(TlsPolicy, SecureUsableTlsaRequiresDane) {
  auto r = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3), rec(1), rec(2)}));
  EXPECT_FALSE(r.defer);
  EXPECT_EQ(r.policy, PolicyKind::kDane);
  EXPECT_TRUE(r.tls_required);
  EXPECT_EQ(r.verification, Verification::kDane);
  ASSERT_EQ(r.tlsa.size(), 2u);  // PKIX-EE(1) dropped (RFC 7672 §3.1.3)
  EXPECT_EQ(r.tlsa[0].usage, 3);
  EXPECT_EQ(r.tlsa[1].usage, 2);
  EXPECT_EQ(r.reference_name, "mx.example.test");
}

TEST(TlsPolicy, SecureOnlyUnusableTlsaIsMandatoryUnauthenticatedTls) {
  auto r = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(0), rec(1)}));
  EXPECT_FALSE(r.defer);
  EXPECT_EQ(r.policy, PolicyKind::kDane);
  EXPECT_TRUE(r.tls_required);
  EXPECT_EQ(r.verification, Verification::kNone);
  Tlsa bad_selector{3, 7, 1, std::vector<std::uint8_t>(32, 1)};
  auto r2 = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {bad_selector}));
  EXPECT_EQ(r2.verification, Verification::kNone);
  EXPECT_TRUE(r2.tls_required);
}

TEST(TlsPolicy, SecureNoTlsaFallsThroughToMay) {
  auto r = decide(input(DnsStatus::kSecure, DnsStatus::kSecure));
  EXPECT_FALSE(r.defer);
  EXPECT_EQ(r.policy, PolicyKind::kMay);
  EXPECT_FALSE(r.tls_required);
  EXPECT_TRUE(r.attempt_tls);
}

TEST(TlsPolicy, InsecureMxIgnoresTlsa) {
  // RFC 7672 §2.2.1: TLSA under an insecure MX RRset is not used (and not even looked up).
  auto r = decide(input(DnsStatus::kInsecure, DnsStatus::kSecure, {rec(3)}));
  EXPECT_EQ(r.policy, PolicyKind::kMay);
  EXPECT_FALSE(r.tls_required);
}

TEST(TlsPolicy, InsecureTlsaFallsThrough) {
  auto r = decide(input(DnsStatus::kSecure, DnsStatus::kInsecure, {rec(3)}));
  EXPECT_EQ(r.policy, PolicyKind::kMay);
}

TEST(TlsPolicy, BogusOrFailedDefers) {
  for (auto [mx, tlsa] : {std::pair{DnsStatus::kBogus, DnsStatus::kSecure},
                          std::pair{DnsStatus::kFailed, DnsStatus::kSecure},
                          std::pair{DnsStatus::kSecure, DnsStatus::kBogus},
                          std::pair{DnsStatus::kSecure, DnsStatus::kFailed}}) {
    auto r = decide(input(mx, tlsa, {rec(3)}));
    EXPECT_TRUE(r.defer);
    EXPECT_EQ(r.policy, PolicyKind::kDane);
    EXPECT_FALSE(r.reason.empty());
    auto v = evaluate(r, tls_up(peer(true, "dane-ee")));
    EXPECT_EQ(v.kind, K::kDefer) << "a deferred host is never used";
  }
}

TEST(TlsPolicy, BogusWithoutDaneInTheChainIsNotDanesBusiness) {
  auto r = decide(input(DnsStatus::kBogus, DnsStatus::kBogus, {}, {PolicyKind::kMay}));
  EXPECT_FALSE(r.defer);
  EXPECT_EQ(r.policy, PolicyKind::kMay);
}

TEST(TlsPolicy, FixedPolicies) {
  auto verify =
      decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, {PolicyKind::kVerify}));
  EXPECT_TRUE(verify.tls_required);
  EXPECT_EQ(verify.verification, Verification::kPkix);
  EXPECT_EQ(verify.reference_name, "mx.example.test");
  auto encrypt =
      decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, {PolicyKind::kEncrypt}));
  EXPECT_TRUE(encrypt.tls_required);
  EXPECT_EQ(encrypt.verification, Verification::kNone);
  auto none = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)}, {PolicyKind::kNone}));
  EXPECT_FALSE(none.attempt_tls);
  EXPECT_FALSE(none.tls_required);
}

TEST(TlsPolicy, DaneThenVerify) {
  auto r = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {},
                        {PolicyKind::kDane, PolicyKind::kVerify}));
  EXPECT_EQ(r.policy, PolicyKind::kVerify);
  auto d = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)},
                        {PolicyKind::kDane, PolicyKind::kVerify}));
  EXPECT_EQ(d.policy, PolicyKind::kDane);
}

TEST(TlsPolicy, ExhaustedChainDefers) {
  // A configured ["dane"] fails closed where DANE does not apply; only an explicit `may` at the
  // end of the chain makes it opportunistic.
  for (auto mx : {DnsStatus::kSecure, DnsStatus::kInsecure}) {
    auto r = decide(input(mx, DnsStatus::kSecure, {}, {PolicyKind::kDane}));
    EXPECT_TRUE(r.defer);
    EXPECT_EQ(r.reason, "no policy of the chain dane applies to example.test");
    EXPECT_EQ(evaluate(r, tls_up(peer(true, "dane-ee"))).kind, K::kDefer);
  }
  auto two = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {},
                          {PolicyKind::kDane, PolicyKind::kMtaSts}));
  EXPECT_TRUE(two.defer);
  EXPECT_EQ(two.reason, "no policy of the chain dane,mta-sts applies to example.test");
  auto may = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {}, kDefaultPolicyChain));
  EXPECT_FALSE(may.defer);
  EXPECT_EQ(may.policy, PolicyKind::kMay);
}

TEST(TlsPolicy, DigestOfTheWrongLengthIsUnusable) {
  // RFC 6698 §2.1.3: SHA2-256 is 32 bytes, SHA2-512 64; anything else can never match.
  Tlsa short256{3, 1, 1, std::vector<std::uint8_t>(31, 1)};
  Tlsa short512{3, 1, 2, std::vector<std::uint8_t>(32, 1)};
  auto r = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {short256, short512}));
  EXPECT_FALSE(r.defer);
  EXPECT_TRUE(r.tls_required);
  EXPECT_EQ(r.verification, Verification::kNone);
  Tlsa good512{2, 0, 2, std::vector<std::uint8_t>(64, 1)};
  auto g = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {short256, good512}));
  EXPECT_EQ(g.verification, Verification::kDane);
  ASSERT_EQ(g.tlsa.size(), 1u);
  EXPECT_EQ(g.tlsa[0].matching_type, 2);
}

TEST(TlsPolicy, NoRecordOpenSslAcceptsIsUnauthenticatedTlsNotAMismatch) {
  auto dane = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)}));
  ASSERT_EQ(dane.verification, Verification::kDane);
  auto r = without_usable_tlsa(dane);
  EXPECT_TRUE(r.tls_required);
  EXPECT_EQ(r.verification, Verification::kNone);
  EXPECT_TRUE(r.tlsa.empty());
  PeerResult unverified = peer(false, "none");
  EXPECT_EQ(evaluate(dane, tls_up(unverified)).kind, K::kDefer);
  EXPECT_EQ(evaluate(r, tls_up(unverified)).kind, K::kProceed);
  TlsObservation stripped{false, false, false, "", nullptr};
  EXPECT_EQ(evaluate(r, stripped).kind, K::kDefer) << "TLS stays mandatory";
  auto verify =
      decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, {PolicyKind::kVerify}));
  EXPECT_EQ(without_usable_tlsa(verify).verification, Verification::kPkix);
}

TEST(TlsPolicy, PresentButUnparsedTlsaIsMandatoryUnauthenticatedTls) {
  auto in = input(DnsStatus::kSecure, DnsStatus::kSecure);
  in.tlsa_present = true;  // records in the RRset, every one dropped as malformed
  auto r = decide(in);
  EXPECT_FALSE(r.defer);
  EXPECT_EQ(r.policy, PolicyKind::kDane);
  EXPECT_TRUE(r.tls_required);
  EXPECT_EQ(r.verification, Verification::kNone);
}

TEST(TlsPolicy, MtaStsHook) {
  auto in = input(DnsStatus::kInsecure, DnsStatus::kInsecure);
  EXPECT_EQ(decide(in).policy, PolicyKind::kMay) << "no policy fetched: falls through";
  in.mta_sts = MtaStsPolicy{MtaStsPolicy::Mode::kTesting, {"mx.example.test"}, 86400};
  EXPECT_EQ(decide(in).policy, PolicyKind::kMay) << "testing mode does not enforce";
  in.mta_sts = MtaStsPolicy{MtaStsPolicy::Mode::kEnforce, {"*.example.test"}, 86400};
  auto r = decide(in);
  EXPECT_EQ(r.policy, PolicyKind::kMtaSts);
  EXPECT_EQ(r.verification, Verification::kPkix);
  in.mta_sts = MtaStsPolicy{MtaStsPolicy::Mode::kEnforce, {"other.example.test"}, 86400};
  EXPECT_TRUE(decide(in).defer);
}

TEST(TlsPolicy, MtaStsEnforceMismatchDefers) {
  auto in = input(DnsStatus::kInsecure, DnsStatus::kInsecure);
  in.mta_sts = MtaStsPolicy{MtaStsPolicy::Mode::kEnforce, {"other.example.test"}, 86400};
  auto r = decide(in);
  EXPECT_TRUE(r.defer);
  EXPECT_EQ(r.policy, PolicyKind::kMtaSts);
  EXPECT_EQ(r.reason, "mta-sts: mx.example.test is not in the enforced policy of example.test");
  // A secure TLSA earlier in the chain still wins (RFC 8461 §2: DANE first).
  auto dane = input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)});
  dane.mta_sts = in.mta_sts;
  EXPECT_EQ(decide(dane).policy, PolicyKind::kDane);
}

TEST(TlsPolicy, MtaStsEnforceNeedsVerifiedTls) {
  auto in = input(DnsStatus::kInsecure, DnsStatus::kInsecure);
  in.mta_sts = MtaStsPolicy{MtaStsPolicy::Mode::kEnforce, {"mx.example.test"}, 86400};
  auto r = decide(in);
  ASSERT_FALSE(r.defer);
  EXPECT_TRUE(r.tls_required);
  EXPECT_EQ(r.reference_name, "mx.example.test");
  PeerResult good = peer(true, "pkix"), bad = peer(false, "");
  EXPECT_EQ(evaluate(r, {true, true, true, "", &good}).kind, K::kProceed);
  EXPECT_EQ(evaluate(r, {true, true, true, "", &bad}).kind, K::kDefer);
  EXPECT_EQ(evaluate(r, {false, false, false, "", nullptr}).kind, K::kDefer) << "stripped";
  EXPECT_TRUE(r.mta_sts_testing.empty());
}

TEST(TlsPolicy, MtaStsTestingAndNoneFallThrough) {
  auto in = input(DnsStatus::kInsecure, DnsStatus::kInsecure);
  in.mta_sts = MtaStsPolicy{MtaStsPolicy::Mode::kTesting, {"mx.example.test"}, 86400};
  auto r = decide(in);
  EXPECT_EQ(r.policy, PolicyKind::kMay);
  EXPECT_FALSE(r.tls_required);
  EXPECT_EQ(r.reference_name, "mx.example.test") << "so the log can say whether PKIX passed";
  EXPECT_EQ(mta_sts_testing_outcome(r, "TLSv1.3", "pkix"),
            "mta-sts testing: mx.example.test is in the policy of example.test; enforce would "
            "deliver: verified by PKIX");
  EXPECT_EQ(mta_sts_testing_outcome(r, "", "none"),
            "mta-sts testing: mx.example.test is in the policy of example.test; enforce would "
            "defer: no TLS");
  in.mta_sts->mx = {"*.other.test"};
  r = decide(in);
  EXPECT_EQ(r.policy, PolicyKind::kMay);
  EXPECT_FALSE(r.defer);
  EXPECT_EQ(mta_sts_testing_outcome(r, "TLSv1.3", "pkix"),
            "mta-sts testing: mx.example.test is not in the policy of example.test; enforce "
            "would not use this host");
  in.mta_sts->mode = MtaStsPolicy::Mode::kNone;
  r = decide(in);
  EXPECT_EQ(r.policy, PolicyKind::kMay);
  EXPECT_TRUE(r.mta_sts_testing.empty());
  EXPECT_EQ(mta_sts_testing_outcome(r, "", "none"), "");
}

TEST(TlsPolicy, MtaStsPatterns) {
  EXPECT_TRUE(mta_sts_mx_matches("mx.example.org", "MX.example.org."));
  EXPECT_TRUE(mta_sts_mx_matches("*.example.org", "mx.example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("*.example.org", "a.mx.example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("*.example.org", "example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("mx.example.org", "mx.example.org.evil"));
}

TEST(TlsPolicy, ChainParsing) {
  auto chain = parse_policy_chain("dane, MTA-STS,may");
  ASSERT_TRUE(chain);
  EXPECT_EQ(*chain, kDefaultPolicyChain);
  std::string error;
  EXPECT_FALSE(parse_policy_chain("dane,,may", &error));
  EXPECT_NE(error.find("\"\""), std::string::npos);
  EXPECT_FALSE(parse_policy_chain("strict", &error));
  EXPECT_NE(error.find("strict"), std::string::npos);
}

// --- evaluate ---------------------------------------------------------------------------

TEST(TlsPolicyEvaluate, StrippedStartTls) {
  TlsObservation stripped{};
  for (auto chain : {std::vector{PolicyKind::kVerify}, std::vector{PolicyKind::kEncrypt}}) {
    auto r = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, chain));
    auto v = evaluate(r, stripped);
    EXPECT_EQ(v.kind, K::kDefer);
    EXPECT_NE(v.reason.find("STARTTLS not offered"), std::string::npos);
  }
  auto dane = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)}));
  EXPECT_EQ(evaluate(dane, stripped).kind, K::kDefer);
  auto may = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure));
  EXPECT_EQ(evaluate(may, stripped).kind, K::kProceedCleartext);
  auto none = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, {PolicyKind::kNone}));
  EXPECT_EQ(evaluate(none, TlsObservation{true, false, false, "", nullptr}).kind,
            K::kProceedCleartext);
}

TEST(TlsPolicyEvaluate, HandshakeFailure) {
  TlsObservation failed{true, true, false, "alert handshake failure", nullptr};
  auto dane = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)}));
  auto v = evaluate(dane, failed);
  EXPECT_EQ(v.kind, K::kDefer);
  EXPECT_NE(v.reason.find("alert handshake failure"), std::string::npos);
  auto may = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure));
  EXPECT_EQ(evaluate(may, failed).kind, K::kProceedCleartext);
  TlsObservation not_started{true, false, false, "", nullptr};
  EXPECT_EQ(evaluate(dane, not_started).kind, K::kDefer);
}

TEST(TlsPolicyEvaluate, DaneVerification) {
  auto dane = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(3)}));
  auto ee = peer(true, "dane-ee"), ta = peer(true, "dane-ta"), pkix = peer(true, "pkix"),
       bad = peer(false, "");
  EXPECT_EQ(evaluate(dane, tls_up(ee)).kind, K::kProceed);
  EXPECT_NE(evaluate(dane, tls_up(ee)).reason.find("dane-ee"), std::string::npos);
  EXPECT_EQ(evaluate(dane, tls_up(ta)).kind, K::kProceed);
  EXPECT_EQ(evaluate(dane, tls_up(pkix)).kind, K::kDefer) << "PKIX is no substitute for DANE";
  auto v = evaluate(dane, tls_up(bad));
  EXPECT_EQ(v.kind, K::kDefer);
  EXPECT_NE(v.reason.find("certificate verify failed"), std::string::npos);
}

TEST(TlsPolicyEvaluate, PkixVerification) {
  auto verify =
      decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, {PolicyKind::kVerify}));
  auto pkix = peer(true, "pkix"), bad = peer(false, ""), ee = peer(true, "dane-ee");
  EXPECT_EQ(evaluate(verify, tls_up(pkix)).kind, K::kProceed);
  EXPECT_EQ(evaluate(verify, tls_up(bad)).kind, K::kDefer);
  EXPECT_EQ(evaluate(verify, tls_up(ee)).kind, K::kDefer);
}

TEST(TlsPolicyEvaluate, UnverifiedIsEnoughForEncryptAndMay) {
  auto bad = peer(false, "");
  for (auto chain : {std::vector{PolicyKind::kEncrypt}, std::vector{PolicyKind::kMay}}) {
    auto r = decide(input(DnsStatus::kInsecure, DnsStatus::kInsecure, {}, chain));
    EXPECT_EQ(evaluate(r, tls_up(bad)).kind, K::kProceed);
  }
  auto unusable = decide(input(DnsStatus::kSecure, DnsStatus::kSecure, {rec(0)}));
  EXPECT_EQ(evaluate(unusable, tls_up(bad)).kind, K::kProceed);
  EXPECT_EQ(evaluate(unusable, TlsObservation{}).kind, K::kDefer);
}

}  // namespace
}  // namespace sealpost::tls
