// MtaStsCache: a std::map under one mutex. Lookups are rare next to SMTP work (one per delivery
// run), so a linear scan to evict when full is fine and keeps the bookkeeping obvious.
#include "tls/mta_sts_cache.hpp"

#include <algorithm>

namespace sealpost::tls {

MtaStsCache::MtaStsCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

std::optional<MtaStsEntry> MtaStsCache::find(std::string_view domain, TimePoint now) {
  std::lock_guard lock(mutex_);
  auto it = slots_.find(domain);
  if (it == slots_.end()) return std::nullopt;
  if (it->second.entry.expires <= now) {  // §3.2 max_age: past it the policy is gone
    slots_.erase(it);
    return std::nullopt;
  }
  it->second.used = now;
  return it->second.entry;
}

void MtaStsCache::store(std::string_view domain, MtaStsEntry entry, TimePoint now) {
  std::lock_guard lock(mutex_);
  auto it = slots_.find(domain);
  if (it != slots_.end()) {
    it->second = Slot{std::move(entry), now};
    return;
  }
  if (slots_.size() >= capacity_) make_room(now);
  slots_.emplace(std::string(domain), Slot{std::move(entry), now});
}

std::size_t MtaStsCache::size() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}

void MtaStsCache::make_room(TimePoint now) {
  std::erase_if(slots_, [&](const auto& kv) { return kv.second.entry.expires <= now; });
  if (slots_.size() < capacity_) return;
  auto oldest = std::min_element(slots_.begin(), slots_.end(), [](const auto& a, const auto& b) {
    return a.second.used < b.second.used;
  });
  slots_.erase(oldest);
}

MtaStsStep next_step(const std::optional<MtaStsRecord>& record,
                     const std::optional<MtaStsEntry>& cached) {
  if (record)
    return cached && cached->id == record->id ? MtaStsStep::kUseCached : MtaStsStep::kFetch;
  return cached ? MtaStsStep::kUseCached : MtaStsStep::kNoPolicy;
}

}  // namespace sealpost::tls
