// MTA-STS (RFC 8461) text formats, sans-I/O: the `_mta-sts` TXT record (§3.1), the policy file
// served over HTTPS (§3.2) and MX host matching (§4.1). No DNS, HTTP or clock here: the caller
// fetches, caches and applies. Dependency-free C++20 (fuzzed by tests/fuzz/mta_sts_fuzz.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::tls {

// RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
inline constexpr std::uint32_t kMtaStsMaxAge = 31557600;

struct MtaStsPolicy {
  enum class Mode { kNone, kTesting, kEnforce };
  Mode mode = Mode::kNone;
  std::vector<std::string> mx;  // patterns, lower case: "mail.example.org", "*.example.net"
  std::uint32_t max_age = 0;    // seconds

  // RFC 8461 §4.1: does `host` (an MX host name) match one of the mx patterns?
  bool matches(std::string_view host) const;
};

const char* mta_sts_mode_name(MtaStsPolicy::Mode mode);  // "none" | "testing" | "enforce"

// The `_mta-sts.DOMAIN` TXT record: "v=STSv1; id=20160831085700Z;".
struct MtaStsRecord {
  std::string id;  // 1-32 letters and digits; a new id announces a new policy
};

// One TXT record (its character-strings joined). nullopt: not a valid STSv1 record.
std::optional<MtaStsRecord> parse_mta_sts_record(std::string_view text);

// RFC 8461 §3.1: records that do not begin with "v=STSv1" are discarded; unless exactly one
// remains and it is valid, the domain has no available policy (nullopt).
std::optional<MtaStsRecord> select_mta_sts_record(const std::vector<std::string>& texts);

// The policy file body (CRLF or LF lines). nullopt and `error` (if given) set when it is not a
// valid policy: a missing or wrong version, mode or max_age, a malformed line or mx pattern,
// or no mx pattern in a testing/enforce policy. Unknown keys are ignored; a repeated key other
// than mx keeps its first value (RFC 8461 §3.2).
std::optional<MtaStsPolicy> parse_mta_sts_policy(std::string_view body,
                                                 std::string* error = nullptr);

// The policy as a policy file (CRLF lines) that parse_mta_sts_policy() reads back unchanged.
std::string format_mta_sts_policy(const MtaStsPolicy& policy);

// RFC 8461 §4.1: "*.example.org" matches exactly one leftmost label ("mx.example.org", not
// "example.org" or "a.b.example.org"); otherwise an exact, case-insensitive match. A trailing
// dot on either side is ignored.
bool mta_sts_mx_matches(std::string_view pattern, std::string_view host);

}  // namespace sealpost::tls
