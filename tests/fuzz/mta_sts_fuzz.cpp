// libFuzzer target for src/tls/mta_sts_policy: the TXT record parser (alone and as a set of
// records, one per input line) and the policy file parser, on the whole input and on each prefix
// (a policy cut short by the 64 KiB cap or a dropped connection). Invariants: an id is 1-32
// letters/digits; a parsed policy has max_age <= 31557600, lower-case mx patterns that match a
// host made from them, and at least one pattern unless its mode is none; writing a policy back
// out and parsing it again gives the same policy.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tls/mta_sts_policy.hpp"

namespace {

using namespace sealpost::tls;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void check_record(const std::optional<MtaStsRecord>& r) {
  if (!r) return;
  if (r->id.empty() || r->id.size() > 32) fail("id length");
  for (char c : r->id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
      fail("id character");
}

void check_policy(std::string_view body) {
  auto p = parse_mta_sts_policy(body);
  if (!p) return;
  if (p->max_age > kMtaStsMaxAge) fail("max_age");
  if (p->mx.empty() && p->mode != MtaStsPolicy::Mode::kNone) fail("mx missing");
  for (const std::string& mx : p->mx) {
    for (char c : mx)
      if (c >= 'A' && c <= 'Z') fail("mx not lower case");
    std::string host = mx.starts_with("*.") ? "x" + mx.substr(1) : mx;
    if (!p->matches(host)) fail("pattern does not match its own host");
  }
  auto q = parse_mta_sts_policy(format_mta_sts_policy(*p));
  if (!q || q->mode != p->mode || q->max_age != p->max_age || q->mx != p->mx) fail("round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view whole(reinterpret_cast<const char*>(data), size);
  for (std::size_t n = 0; n <= size; ++n) {
    std::string_view prefix = whole.substr(0, n);
    check_record(parse_mta_sts_record(prefix));
    check_policy(prefix);
  }
  std::vector<std::string> records;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || whole[i] == '\n') {
      records.emplace_back(whole.substr(start, i - start));
      start = i + 1;
    }
  }
  check_record(select_mta_sts_record(records));
  (void)mta_sts_mx_matches(whole, whole);
  return 0;
}
