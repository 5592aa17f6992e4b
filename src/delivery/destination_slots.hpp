// Per-destination concurrency for the scheduler: how many attempts hold a slot at each
// destination (a name the deliverer gives, such as a recipient domain), and the messages parked
// until one frees there, oldest first. No threads and no I/O: the scheduler calls it under its
// own lock. A message going to several destinations takes all its slots at once or none, so two
// messages can never each hold one slot the other waits for.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::delivery {

class DestinationSlots {
 public:
  // A parked message given a claim on a freed slot: the scheduler makes it ready again.
  struct Woken {
    std::uint64_t seq = 0;  // what it was parked under: keeps its place in line
    std::string id;
  };

  // At most `limit` attempts at once per destination; 0: no limit (nothing is ever parked).
  explicit DestinationSlots(unsigned limit) : limit_(limit) {}

  bool limited() const { return limit_ != 0; }

  // One slot at each of `destinations` (sorted, no repeats), or none: then the first one that
  // has no slot free (held or claimed by a woken message) is returned, else nullptr.
  const std::string* acquire(std::span<const std::string> destinations);
  void release(std::string_view destination);

  // Parks a message until a slot at `destination` frees; `seq` orders the wait (lowest first).
  void park(const std::string& destination, std::uint64_t seq, std::string id);
  // Forgets a parked message (held or deleted meanwhile).
  void unpark(std::string_view destination, std::uint64_t seq);
  // A woken message's claim ends: it was taken by a worker (which then acquires or parks
  // again), held or deleted.
  void drop_claim(std::string_view destination);
  // Hands the slots at `destination` that nobody holds or claims to the oldest parked messages;
  // call after release() and drop_claim() and when a taken message did not use its claim.
  std::vector<Woken> wake(std::string_view destination);

  // For tests and status: attempts holding a slot, messages parked.
  unsigned active(std::string_view destination) const;
  std::size_t parked(std::string_view destination) const;

 private:
  struct Destination {
    unsigned active = 0;   // attempts holding a slot
    unsigned claimed = 0;  // woken messages not yet taken by a worker
    std::map<std::uint64_t, std::string> parked;
  };
  using Map = std::map<std::string, Destination, std::less<>>;

  bool full(const Destination& d) const { return d.active + d.claimed >= limit_; }
  // Drops the record of a destination nobody uses, so the map does not grow with every
  // domain ever seen.
  void forget_if_unused(Map::iterator it);

  unsigned limit_;
  Map destinations_;
};

}  // namespace sealpost::delivery
