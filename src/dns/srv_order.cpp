// RFC 2782 ordering: sort by priority; within a priority, repeatedly draw a random number in
// [0, sum of remaining weights] and pick the first record whose running weight sum reaches it.
// Weight-0 records are placed first before the draw so that they keep a small chance of being
// selected first, as the RFC asks.
#include "dns/srv_order.hpp"

#include <algorithm>
#include <random>

namespace sealpost::dns {

std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, const RandomUpTo& random) {
  std::erase_if(records, [](const SrvRecord& r) { return r.target == "."; });
  // Stable: weight-0 records first within a priority (RFC 2782 "arrange all SRV RRs ... in any
  // order, except that all those with weight 0 are placed at the beginning of the list").
  std::stable_sort(records.begin(), records.end(), [](const SrvRecord& a, const SrvRecord& b) {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.weight == 0 && b.weight != 0;
  });
  std::vector<SrvRecord> out;
  out.reserve(records.size());
  auto group_begin = records.begin();
  while (group_begin != records.end()) {
    auto group_end = std::find_if(group_begin, records.end(), [&](const SrvRecord& r) {
      return r.priority != group_begin->priority;
    });
    std::vector<SrvRecord> group(group_begin, group_end);
    while (!group.empty()) {
      std::uint32_t sum = 0;
      for (const auto& r : group) sum += r.weight;  // at most 65535 * 65535: fits
      std::uint32_t pick = random(sum);
      if (pick > sum) pick = sum;  // a misbehaving source must not run off the end
      std::uint32_t running = 0;
      std::size_t chosen = group.size() - 1;
      for (std::size_t i = 0; i < group.size(); ++i) {
        running += group[i].weight;
        if (running >= pick) {
          chosen = i;
          break;
        }
      }
      out.push_back(std::move(group[chosen]));
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    group_begin = group_end;
  }
  return out;
}

std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records) {
  std::random_device device;
  std::mt19937 engine(device());
  return order_srv(std::move(records), [&](std::uint32_t bound) {
    return std::uniform_int_distribution<std::uint32_t>(0, bound)(engine);
  });
}

bool srv_service_unavailable(const std::vector<SrvRecord>& records) {
  return records.size() == 1 && records.front().target == ".";
}

}  // namespace sealpost::dns
