// The outbound TLS policy decision for one MX host, sans-I/O: which TLS this connection needs
// (decide) and, after EHLO/STARTTLS, whether what we got is enough to send mail (evaluate).
// RFC 7672 (DANE for SMTP), RFC 8461 (MTA-STS: the caller discovers the policy, this applies
// it), RFC 7435 (opportunistic security). No DNS, sockets or OpenSSL calls here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/client_verify.hpp"
#include "tls/mta_sts_policy.hpp"

namespace sealpost::tls {

enum class PolicyKind { kDane, kMtaSts, kVerify, kEncrypt, kMay, kNone };
const char* policy_name(PolicyKind kind);  // "dane", "mta-sts", "verify", "encrypt", "may", "none"
std::optional<PolicyKind> policy_from_name(std::string_view name);
// "dane,mta-sts,may" -> chain; an unknown or empty item is an error naming it.
std::optional<std::vector<PolicyKind>> parse_policy_chain(std::string_view text,
                                                          std::string* error = nullptr);
// DESIGN.md / issue 6: the default chain.
inline const std::vector<PolicyKind> kDefaultPolicyChain = {PolicyKind::kDane, PolicyKind::kMtaSts,
                                                            PolicyKind::kMay};

// What a DNS lookup told us (dns::Security plus "no usable answer at all").
enum class DnsStatus {
  kSecure,
  kInsecure,
  kBogus,   // validation failed: an attack until proven otherwise (RFC 4035 §5.5)
  kFailed,  // SERVFAIL, timeout: indeterminate (RFC 7672 §2.2: not the same as "no records")
};

struct PolicyInput {
  std::vector<PolicyKind> chain = kDefaultPolicyChain;
  std::string domain;   // the destination domain (for reasons)
  std::string mx_host;  // the MX host (or the domain itself as implicit MX), no trailing dot
  DnsStatus mx_status = DnsStatus::kInsecure;  // of the MX RRset (or the implicit MX's A/AAAA)
  // TLSA lookup of _PORT._tcp.mx_host; only looked at (and only looked up, RFC 7672 §2.2.1)
  // when the MX status is secure.
  DnsStatus tlsa_status = DnsStatus::kInsecure;
  std::vector<Tlsa> tlsa;     // the parsed records of that lookup
  bool tlsa_present = false;  // the lookup had records (even if none parsed); false: NODATA
  // RFC 8461: the policy in force for `domain` (discovered and cached by the caller); unset:
  // the domain has none and "mta-sts" passes to the next policy.
  std::optional<MtaStsPolicy> mta_sts;
};

enum class Verification { kNone, kDane, kPkix };
const char* verification_name(Verification v);  // "none" | "dane" | "pkix"

// The effective requirement for one connection to one MX host.
struct Requirement {
  bool defer = false;  // do not connect at all (bogus/indeterminate DNS, MTA-STS mismatch)
  PolicyKind policy = PolicyKind::kMay;  // the policy that decided
  bool attempt_tls = true;               // send STARTTLS when offered (false only for `none`)
  bool tls_required = false;             // no mail unless TLS is up and verification (below) passed
  Verification verification = Verification::kNone;
  std::vector<Tlsa> tlsa;      // kDane: the usable records (usage 2/3), handed to OpenSSL
  std::string reference_name;  // kPkix and kDane: the MX host name checked in the certificate
  std::string reason;          // one line for the log, e.g. "dane: secure TLSA for mx.example"
  // An MTA-STS policy in testing mode (RFC 8461 §5): delivery follows the policy that decided;
  // this is what enforce would have said before connecting, for the log ("" = no testing
  // policy). mta_sts_testing_outcome() completes it once the attempt is known.
  std::string mta_sts_testing;
  bool mta_sts_testing_listed = false;  // the MX host matches the testing policy
};

// Walks the chain: each policy either applies (and decides) or passes to the next one. A
// chain that runs out defers (fail closed); the default chain ends in `may`.
Requirement decide(const PolicyInput& input);

// After the server's EHLO (and the handshake, when one was attempted): may mail be sent?
struct TlsObservation {
  bool starttls_offered = false;
  bool handshake_attempted = false;
  bool handshake_done = false;
  std::string handshake_error;       // when attempted and not done
  const PeerResult* peer = nullptr;  // after a completed handshake
};

struct Verdict {
  enum class Kind {
    kProceed,           // TLS is up and good enough for the requirement
    kProceedCleartext,  // no TLS, and the policy allows that (`may`, `none`)
    kDefer,             // nothing may be sent to this host: a 4.7.x TempFail, try the next MX
  };
  Kind kind = Kind::kDefer;
  std::string reason;
};

Verdict evaluate(const Requirement& requirement, const TlsObservation& seen);

// A kDane requirement whose records OpenSSL accepted none of: RFC 7672 §2.2, TLS stays
// mandatory but unauthenticated (not a certificate mismatch). Other requirements unchanged.
Requirement without_usable_tlsa(Requirement requirement);

// For a requirement with mta_sts_testing set: what enforce would have done with the attempt
// that was made (TLS version "" = cleartext; `verified` as the handshake reported it).
std::string mta_sts_testing_outcome(const Requirement& requirement, std::string_view tls_version,
                                    std::string_view verified);

}  // namespace sealpost::tls
