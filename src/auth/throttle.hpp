// Failed-authentication accounting against password guessing (RFC 4954 9 asks servers to
// limit it). Per client address (IPv6 per /64, since one host usually owns a whole /64):
// delays, then refusal. Per user name (guessing spread over many addresses): longer delays on
// FAILED replies only, so nobody can lock a real user out. Thread-safe; clock injected.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace sealpost::auth {

// Policy, with config::AuthThrottle's defaults (delay_after 3, lockout_after 10, lockout 900 s,
// max_delay 8 s, window 3600 s):
// - Every failure counts against the client address and against the user name tried.
// - A FAILED attempt's reply is delayed by 1 s, doubling, capped at max_delay, once either
//   count exceeds delay_after (the 4th failure waits 1 s, the 5th 2 s, the 6th 4 s, ...).
// - When an address reaches lockout_after failures it is refused (454 4.7.0) before any
//   password check for `lockout`; a further failure after that re-arms the lockout at once.
// - Counts are forgotten after `window` without a failure from that address (or for that name).
// - A success forgives the failures that the same address made for the same user name (the
//   user's own typos) on both counts; failures for other names stay, so a valid account
//   cannot be used to launder guesses at others.
// - Per-user counts never refuse and never delay a correct login.
// Memory is bounded: at most `max_entries` addresses and as many names; when full, expired
// entries go first, then the oldest tenth.
class Throttle {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Verdict {
    bool refuse = false;
    std::chrono::seconds retry_after{0};  // when refused: remaining lockout
  };

  explicit Throttle(config::AuthThrottle settings, Clock clock = {},
                    std::size_t max_entries = 100000);

  // Call before checking credentials. If refuse, reply 454 4.7.0 and skip the check.
  Verdict before_attempt(std::string_view address, std::string_view user);
  // Call after a failed check; wait the returned time before replying 535 5.7.8.
  std::chrono::milliseconds after_failure(std::string_view address, std::string_view user);
  void after_success(std::string_view address, std::string_view user);

  // The accounting key for a peer: "192.0.2.1", "2001:db8:1:2::/64" (IPv4-mapped IPv6 counts
  // as IPv4; brackets and %zone are ignored); other text is used as is, truncated.
  static std::string address_key(std::string_view address);

 private:
  using TimePoint = std::chrono::steady_clock::time_point;
  struct AddressRecord {
    unsigned failures = 0;
    TimePoint last_failure{};
    TimePoint locked_until{};
    std::vector<std::pair<std::string, unsigned>> by_user;  // failures per normalised name
  };
  struct UserRecord {
    unsigned failures = 0;
    TimePoint last_failure{};
  };

  std::chrono::milliseconds delay_for(unsigned failures) const;
  template <typename Record>
  void make_room(std::unordered_map<std::string, Record>& map, TimePoint now);

  config::AuthThrottle settings_;
  Clock clock_;
  std::size_t max_entries_;
  std::mutex mutex_;
  std::unordered_map<std::string, AddressRecord> addresses_;
  std::unordered_map<std::string, UserRecord> users_;
};

}  // namespace sealpost::auth
