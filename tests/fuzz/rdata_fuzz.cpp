// libFuzzer target for src/dns/rdata and srv_order: every parser on the whole input and on each
// prefix (truncation is the common malformation), rdata_to_text for each type, and SRV ordering
// of the records parsed from consecutive chunks. Invariants: a parsed name is absolute (ends in
// '.') and re-encodes within 255 octets; MX/SRV parse only when the whole RDATA is consumed;
// ordering keeps every non-"." record and sorts by priority.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "dns/rdata.hpp"
#include "dns/srv_order.hpp"

namespace {

using namespace sealpost::dns;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void check_name(const std::string& name) {
  if (name.empty() || name.back() != '.') fail("name not absolute");
}

void parse_all(Bytes in) {
  if (auto a = parse_a(in); a && in.size() != 4) fail("A size");
  if (auto a = parse_aaaa(in); a && in.size() != 16) fail("AAAA size");
  if (auto c = parse_cname(in)) check_name(*c);
  if (auto mx = parse_mx(in)) check_name(mx->exchange);
  if (auto srv = parse_srv(in)) check_name(srv->target);
  if (auto t = parse_tlsa(in); t && t->data.size() + 3 != in.size()) fail("TLSA data size");
  if (auto t = parse_txt(in)) {
    std::size_t total = 0;
    for (const auto& s : t->strings) total += s.size() + 1;
    if (total != in.size()) fail("TXT sizes");
  }
  std::size_t pos = 0;
  if (auto n = parse_name(in, pos)) {
    check_name(*n);
    if (pos > in.size() || pos > 255) fail("name length");
  }
  for (RrType type : {RrType::kA, RrType::kAaaa, RrType::kCname, RrType::kMx, RrType::kSrv,
                      RrType::kTlsa, RrType::kTxt})
    if (rdata_to_text(type, in).empty()) fail("empty text");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes whole(data, size);
  parse_all(whole);
  for (std::size_t n = 0; n < size; ++n) parse_all(whole.first(n));

  // Chunks separated by 0xFF bytes as SRV RDATA; order what parses.
  std::vector<SrvRecord> records;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == 0xFF) {
      if (auto srv = parse_srv(whole.subspan(start, i - start))) records.push_back(*srv);
      start = i + 1;
    }
  }
  std::size_t kept = 0;
  for (const auto& r : records) kept += r.target != "." ? 1 : 0;
  std::uint32_t seed = size;
  auto ordered = order_srv(records, [&](std::uint32_t bound) {
    seed = seed * 1103515245u + 12345u;
    return bound == 0 ? 0 : seed % (bound + 1);
  });
  if (ordered.size() != kept) fail("order_srv lost records");
  for (std::size_t i = 1; i < ordered.size(); ++i)
    if (ordered[i - 1].priority > ordered[i].priority) fail("order_srv priority order");
  (void)srv_service_unavailable(records);
  return 0;
}
