// Remembers recently verified passwords so that a client logging in on every connection (the
// usual submission client: one AUTH per message) pays yescrypt once per TTL, not every time.
// Dovecot's auth_cache plays the same role. Only successes are cached; entries are keyed by
// HMAC-SHA256 over (user, password, stored hash) with a per-process random key, so
// - no password is kept in memory, only a MAC of it;
// - changing a password (a new stored hash) or deleting the user misses the cache at once;
// - a wrong password can never hit.
// The cost: whoever can read the daemon's memory could test guesses at HMAC speed for users
// who logged in within the TTL — but such a reader also sees passwords as they arrive.
// Thread-safe; bounded; clock injected for tests.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sealpost::auth {

class VerifiedCache {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::chrono::seconds ttl{300};  // 0 disables the cache
    std::size_t max_entries = 65536;
  };

  explicit VerifiedCache(Options options);
  VerifiedCache(Options options, std::string key);  // fixed MAC key (tests)

  bool enabled() const { return options_.ttl.count() > 0 && options_.max_entries > 0; }
  // True if this exact (user, password, hash) was verified less than `ttl` before `now`.
  bool contains(std::string_view user, std::string_view password, std::string_view hash,
                Clock::time_point now = Clock::now()) const;
  // Records a successful verification made at `now`.
  void insert(std::string_view user, std::string_view password, std::string_view hash,
              Clock::time_point now = Clock::now());
  std::size_t size() const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  // nullopt if HMAC fails: the cache must then miss, never map everything to one key.
  std::optional<Digest> mac(std::string_view user, std::string_view password,
                            std::string_view hash) const;

  const Options options_;
  const std::string key_;
  mutable std::mutex mutex_;
  std::unordered_map<Digest, Clock::time_point, DigestHash> expiry_;
  std::deque<std::pair<Digest, Clock::time_point>> order_;  // insertion (= expiry) order
};

}  // namespace sealpost::auth
