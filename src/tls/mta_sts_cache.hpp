// The MTA-STS policy cache (RFC 8461 §5.1): one entry per policy domain, in memory, shared by
// every delivery thread (a mutex), bounded in size. It stores and forgets; what to do with a
// TXT record and a cached entry is next_step(), a pure function. No DNS, HTTP or files here.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "tls/mta_sts_policy.hpp"

namespace sealpost::tls {

struct MtaStsEntry {
  std::string id;  // of the TXT record the policy was fetched under
  MtaStsPolicy policy;
  std::chrono::system_clock::time_point expires;  // fetch time + max_age (wall clock: persisted)
};

class MtaStsCache {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  explicit MtaStsCache(std::size_t capacity = 10000);

  // The unexpired entry for `domain` (lower case); an expired one is dropped.
  std::optional<MtaStsEntry> find(std::string_view domain, TimePoint now);
  // Adds or replaces. When full: expired entries go first, then the least recently used.
  void store(std::string_view domain, MtaStsEntry entry, TimePoint now);
  std::size_t size() const;

 private:
  struct Slot {
    MtaStsEntry entry;
    TimePoint used;
  };
  void make_room(TimePoint now);  // with mutex_ held

  mutable std::mutex mutex_;
  std::map<std::string, Slot, std::less<>> slots_;
  std::size_t capacity_;
};

enum class MtaStsStep {
  kNoPolicy,   // pass to the next policy of the chain
  kUseCached,  // the cached entry is current
  kFetch,      // fetch over HTTPS; if that fails, the cached entry (if any) still holds
};

// RFC 8461 §3.1/§5.1: a TXT id equal to the cached one means "unchanged" (no fetch); a new or
// first id means fetch. Without a valid TXT record an unexpired cached policy stays in force
// (stripping the record must not undo it), and with neither there is no policy.
MtaStsStep next_step(const std::optional<MtaStsRecord>& record,
                     const std::optional<MtaStsEntry>& cached);

}  // namespace sealpost::tls
