// Counting slots and parked messages per destination; the policy (who parks, who is woken)
// is the scheduler's, the arithmetic is here.
#include "delivery/destination_slots.hpp"

namespace sealpost::delivery {

const std::string* DestinationSlots::acquire(std::span<const std::string> destinations) {
  if (!limited()) return nullptr;
  for (const std::string& name : destinations) {
    const auto it = destinations_.find(name);
    if (it != destinations_.end() && full(it->second)) return &name;
  }
  for (const std::string& name : destinations) ++destinations_[name].active;
  return nullptr;
}

void DestinationSlots::release(std::string_view destination) {
  const auto it = destinations_.find(destination);
  if (it == destinations_.end() || it->second.active == 0) return;
  --it->second.active;
  forget_if_unused(it);
}

void DestinationSlots::park(const std::string& destination, std::uint64_t seq, std::string id) {
  destinations_[destination].parked.emplace(seq, std::move(id));
}

void DestinationSlots::unpark(std::string_view destination, std::uint64_t seq) {
  const auto it = destinations_.find(destination);
  if (it == destinations_.end()) return;
  it->second.parked.erase(seq);
  forget_if_unused(it);
}

void DestinationSlots::drop_claim(std::string_view destination) {
  const auto it = destinations_.find(destination);
  if (it == destinations_.end() || it->second.claimed == 0) return;
  --it->second.claimed;
  forget_if_unused(it);
}

std::vector<DestinationSlots::Woken> DestinationSlots::wake(std::string_view destination) {
  std::vector<Woken> woken;
  const auto it = destinations_.find(destination);
  if (it == destinations_.end()) return woken;
  Destination& d = it->second;
  while (!d.parked.empty() && !full(d)) {
    auto first = d.parked.begin();
    woken.push_back(Woken{first->first, std::move(first->second)});
    d.parked.erase(first);
    ++d.claimed;
  }
  return woken;
}

unsigned DestinationSlots::active(std::string_view destination) const {
  const auto it = destinations_.find(destination);
  return it == destinations_.end() ? 0 : it->second.active;
}

std::size_t DestinationSlots::parked(std::string_view destination) const {
  const auto it = destinations_.find(destination);
  return it == destinations_.end() ? 0 : it->second.parked.size();
}

void DestinationSlots::forget_if_unused(Map::iterator it) {
  const Destination& d = it->second;
  if (d.active == 0 && d.claimed == 0 && d.parked.empty()) destinations_.erase(it);
}

}  // namespace sealpost::delivery
