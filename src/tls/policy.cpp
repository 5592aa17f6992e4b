// decide(): the policy chain walk of RFC 7672 §2.2 and issue 6; evaluate(): the check made
// after EHLO/STARTTLS and before MAIL FROM, so that a required TLS that is stripped, fails or
// does not verify never turns into mail sent in the clear (RFC 7672 §1.3, downgrade).
#include "tls/policy.hpp"

#include <algorithm>
#include <cctype>

namespace sealpost::tls {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 7672 §3.1.3 / RFC 7671 §4.1: only DANE-TA(2) and DANE-EE(3) with a known selector and
// matching type are usable; PKIX-TA(0)/PKIX-EE(1) are ignored. A digest of the wrong length
// (RFC 6698 §2.1.3: SHA2-256 is 32 bytes, SHA2-512 64) can never match: unusable.
bool usable(const Tlsa& r) {
  if ((r.usage != 2 && r.usage != 3) || r.selector > 1) return false;
  switch (r.matching_type) {
    case 0:
      return !r.data.empty();
    case 1:
      return r.data.size() == 32;
    case 2:
      return r.data.size() == 64;
  }
  return false;
}

std::string chain_text(const std::vector<PolicyKind>& chain) {
  std::string out;
  for (PolicyKind k : chain) out += (out.empty() ? "" : ",") + std::string(policy_name(k));
  return out;
}

Requirement defer(PolicyKind kind, std::string reason) {
  Requirement r;
  r.defer = true;
  r.policy = kind;
  r.tls_required = true;
  r.reason = std::move(reason);
  return r;
}

Requirement require(PolicyKind kind, Verification v, std::string reference, std::string reason) {
  Requirement r;
  r.policy = kind;
  r.tls_required = true;
  r.verification = v;
  r.reference_name = std::move(reference);
  r.reason = std::move(reason);
  return r;
}

// nullopt: this policy does not apply here, try the next one.
std::optional<Requirement> apply_dane(const PolicyInput& in) {
  switch (in.mx_status) {
    case DnsStatus::kBogus:
      return defer(PolicyKind::kDane, "dane: MX lookup for " + in.domain + " is DNSSEC-bogus");
    case DnsStatus::kFailed:
      return defer(PolicyKind::kDane, "dane: MX lookup for " + in.domain + " failed");
    case DnsStatus::kInsecure:  // RFC 7672 §2.2.1: insecure MX: DANE does not apply
      return std::nullopt;
    case DnsStatus::kSecure:
      break;
  }
  switch (in.tlsa_status) {
    case DnsStatus::kBogus:  // RFC 7672 §2.2: bogus TLSA: do not deliver via this server
      return defer(PolicyKind::kDane, "dane: TLSA lookup for " + in.mx_host + " is DNSSEC-bogus");
    case DnsStatus::kFailed:  // indeterminate: could be an attacker hiding the records
      return defer(PolicyKind::kDane, "dane: TLSA lookup for " + in.mx_host + " failed");
    case DnsStatus::kInsecure:
      return std::nullopt;
    case DnsStatus::kSecure:
      break;
  }
  // Secure denial: no DANE for this host. Records that were present but did not parse still
  // count as present (RFC 7672 §2.2: TLS required, unauthenticated).
  if (in.tlsa.empty() && !in.tlsa_present) return std::nullopt;
  std::vector<Tlsa> good;
  std::copy_if(in.tlsa.begin(), in.tlsa.end(), std::back_inserter(good), usable);
  if (good.empty()) {
    // RFC 7672 §2.2: records published but none usable: TLS is still mandatory, without
    // authentication.
    return require(PolicyKind::kDane, Verification::kNone, "",
                   "dane: secure TLSA for " + in.mx_host +
                       " with no usable record: TLS required, unauthenticated");
  }
  Requirement r =
      require(PolicyKind::kDane, Verification::kDane, in.mx_host,
              "dane: " + std::to_string(good.size()) + " usable TLSA record(s) for " + in.mx_host);
  r.tlsa = std::move(good);
  return r;
}

// RFC 8461 §4.2 enforce: only listed MX hosts, TLS required, PKIX with the MX host name (§4.1).
std::optional<Requirement> apply_mta_sts(const PolicyInput& in) {
  if (!in.mta_sts || in.mta_sts->mode != MtaStsPolicy::Mode::kEnforce) return std::nullopt;
  if (!in.mta_sts->matches(in.mx_host))
    return defer(PolicyKind::kMtaSts,
                 "mta-sts: " + in.mx_host + " is not in the enforced policy of " + in.domain);
  return require(PolicyKind::kMtaSts, Verification::kPkix, in.mx_host,
                 "mta-sts: enforce for " + in.domain + ", PKIX for " + in.mx_host);
}

// RFC 8461 §5 testing: the next policy decides; note what enforce would have done. The host
// name goes into the handshake so that `verified` in the log says whether PKIX would pass.
Requirement with_testing_note(Requirement r, const PolicyInput& in) {
  r.mta_sts_testing_listed = in.mta_sts->matches(in.mx_host);
  if (!r.mta_sts_testing_listed) {
    r.mta_sts_testing = in.mx_host + " is not in the policy of " + in.domain;
  } else {
    r.mta_sts_testing = in.mx_host + " is in the policy of " + in.domain;
    if (r.attempt_tls && r.reference_name.empty() && r.verification == Verification::kNone)
      r.reference_name = in.mx_host;
  }
  return r;
}

}  // namespace

const char* policy_name(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kDane:
      return "dane";
    case PolicyKind::kMtaSts:
      return "mta-sts";
    case PolicyKind::kVerify:
      return "verify";
    case PolicyKind::kEncrypt:
      return "encrypt";
    case PolicyKind::kMay:
      return "may";
    case PolicyKind::kNone:
      return "none";
  }
  return "?";
}

std::optional<PolicyKind> policy_from_name(std::string_view name) {
  for (PolicyKind k : {PolicyKind::kDane, PolicyKind::kMtaSts, PolicyKind::kVerify,
                       PolicyKind::kEncrypt, PolicyKind::kMay, PolicyKind::kNone}) {
    if (lower(name) == policy_name(k)) return k;
  }
  return std::nullopt;
}

std::optional<std::vector<PolicyKind>> parse_policy_chain(std::string_view text,
                                                          std::string* error) {
  std::vector<PolicyKind> chain;
  for (;;) {
    auto comma = text.find(',');
    std::string_view item = trim(text.substr(0, comma));
    auto kind = policy_from_name(item);
    if (!kind) {
      if (error) *error = "unknown TLS policy \"" + std::string(item) + "\"";
      return std::nullopt;
    }
    chain.push_back(*kind);
    if (comma == std::string_view::npos) return chain;
    text.remove_prefix(comma + 1);
  }
}

const char* verification_name(Verification v) {
  switch (v) {
    case Verification::kNone:
      return "none";
    case Verification::kDane:
      return "dane";
    case Verification::kPkix:
      return "pkix";
  }
  return "?";
}

Requirement decide(const PolicyInput& in) {
  bool testing = false;  // an MTA-STS testing policy was passed on the way
  auto done = [&](Requirement r) { return testing ? with_testing_note(std::move(r), in) : r; };
  for (PolicyKind kind : in.chain) {
    switch (kind) {
      case PolicyKind::kDane:
        if (auto r = apply_dane(in)) return done(*r);
        break;
      case PolicyKind::kMtaSts:
        if (auto r = apply_mta_sts(in)) return *r;
        testing = testing || (in.mta_sts && in.mta_sts->mode == MtaStsPolicy::Mode::kTesting);
        break;
      case PolicyKind::kVerify:
        return done(
            require(kind, Verification::kPkix, in.mx_host, "verify: PKIX for " + in.mx_host));
      case PolicyKind::kEncrypt:
        return done(require(kind, Verification::kNone, "", "encrypt: TLS required, unverified"));
      case PolicyKind::kMay: {
        Requirement r;
        r.policy = kind;
        r.reason = "may: opportunistic TLS";
        return done(r);
      }
      case PolicyKind::kNone: {
        Requirement r;
        r.policy = kind;
        r.attempt_tls = false;
        r.reason = "none: no TLS";
        return done(r);
      }
    }
  }
  // The chain ran out: fail closed. A configured ["dane"] must not silently become `may`; a
  // fallback is spelled out by ending the chain in may/encrypt/verify/none.
  return done(defer(in.chain.empty() ? PolicyKind::kMay : in.chain.back(),
                    "no policy of the chain " + chain_text(in.chain) + " applies to " + in.domain));
}

std::string mta_sts_testing_outcome(const Requirement& req, std::string_view tls_version,
                                    std::string_view verified) {
  if (req.mta_sts_testing.empty()) return "";
  std::string out = "mta-sts testing: " + req.mta_sts_testing + "; enforce would ";
  if (!req.mta_sts_testing_listed) return out + "not use this host";
  if (tls_version.empty()) return out + "defer: no TLS";
  if (verified != "pkix")
    return out + "defer: peer not verified by PKIX (verified=" + std::string(verified) + ")";
  return out + "deliver: verified by PKIX";
}

Requirement without_usable_tlsa(Requirement req) {
  if (req.verification != Verification::kDane) return req;
  req.verification = Verification::kNone;
  req.tlsa.clear();
  req.reason = "dane: secure TLSA for " + req.reference_name +
               " with no record OpenSSL can use: TLS required, unauthenticated";
  req.reference_name.clear();
  return req;
}

Verdict evaluate(const Requirement& req, const TlsObservation& seen) {
  using K = Verdict::Kind;
  std::string policy = policy_name(req.policy);
  if (req.defer) return {K::kDefer, req.reason};
  if (!req.attempt_tls) return {K::kProceedCleartext, policy + ": cleartext"};
  if (!seen.starttls_offered) {
    if (req.tls_required) return {K::kDefer, policy + ": TLS required and STARTTLS not offered"};
    return {K::kProceedCleartext, policy + ": STARTTLS not offered, cleartext"};
  }
  if (!seen.handshake_attempted || !seen.handshake_done || seen.peer == nullptr) {
    std::string why = !seen.handshake_attempted ? "TLS not started"
                      : seen.handshake_error.empty()
                          ? "TLS handshake failed"
                          : "TLS handshake failed: " + seen.handshake_error;
    // RFC 7435 §1.3: opportunistic TLS may fall back to cleartext (on a new connection).
    if (req.tls_required) return {K::kDefer, policy + ": " + why};
    return {K::kProceedCleartext, policy + ": " + why + ", cleartext"};
  }
  const PeerResult& peer = *seen.peer;
  switch (req.verification) {
    case Verification::kNone:
      return {K::kProceed, policy + ": TLS, peer not verified (not required)"};
    case Verification::kDane:
      if (peer.verified && peer.method.starts_with("dane-"))
        return {K::kProceed, policy + ": verified by " + peer.method};
      return {K::kDefer, policy + ": certificate does not match the TLSA records" +
                             (peer.reason.empty() ? "" : " (" + peer.reason + ")")};
    case Verification::kPkix:
      if (peer.verified && peer.method == "pkix")
        return {K::kProceed, policy + ": verified by pkix"};
      return {K::kDefer, policy + ": certificate not verified for " + req.reference_name +
                             (peer.reason.empty() ? "" : " (" + peer.reason + ")")};
  }
  return {K::kDefer, policy + ": unknown verification"};
}

}  // namespace sealpost::tls
