// Throttle bookkeeping: two maps under one mutex, decayed lazily on access, bounded in size.
// Logs lockouts at warn with the peer and the user name tried (sanitised: it is client input).
#include "auth/throttle.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "auth/credential_file.hpp"

namespace sealpost::auth {

namespace {

// User names are attacker-chosen: no controls or newlines into the log, bounded length.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f || c == '"' || c == '\\') ? '?' : c;
  }
  if (s.size() > 64) out += "...";
  return out;
}

}  // namespace

Throttle::Throttle(config::AuthThrottle settings, Clock clock, std::size_t max_entries)
    : settings_(settings),
      clock_(clock ? std::move(clock) : Clock(&std::chrono::steady_clock::now)),
      max_entries_(std::max<std::size_t>(max_entries, 1)) {}

std::string Throttle::address_key(std::string_view address) {
  std::string text(address);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (std::size_t zone = text.find('%'); zone != std::string::npos) text.resize(zone);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    char out[INET_ADDRSTRLEN];
    return inet_ntop(AF_INET, &v4, out, sizeof out);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      std::memcpy(&v4, &v6.s6_addr[12], 4);
      char out[INET_ADDRSTRLEN];
      return inet_ntop(AF_INET, &v4, out, sizeof out);
    }
    std::memset(&v6.s6_addr[8], 0, 8);  // /64: SLAAC and privacy addresses rotate below it
    char out[INET6_ADDRSTRLEN];
    return std::string(inet_ntop(AF_INET6, &v6, out, sizeof out)) + "/64";
  }
  return printable(address);
}

std::chrono::milliseconds Throttle::delay_for(unsigned failures) const {
  if (failures <= settings_.delay_after) return std::chrono::milliseconds(0);
  unsigned doublings = std::min(failures - settings_.delay_after - 1, 20u);
  std::chrono::milliseconds delay = std::chrono::seconds(1) * (1u << doublings);
  return std::min<std::chrono::milliseconds>(delay, settings_.max_delay);
}

template <typename Record>
void Throttle::make_room(std::unordered_map<std::string, Record>& map, TimePoint now) {
  if (map.size() < max_entries_) return;
  std::erase_if(map, [&](const auto& entry) {
    bool expired = now - entry.second.last_failure >= settings_.window;
    if constexpr (requires { entry.second.locked_until; }) {
      return expired && entry.second.locked_until <= now;
    }
    return expired;
  });
  if (map.size() < max_entries_ - max_entries_ / 10) return;
  // Still (nearly) full of live entries: drop the oldest tenth at once, so that a flood of new
  // keys costs one scan per max_entries/10 insertions rather than one per insertion.
  std::vector<std::pair<TimePoint, const std::string*>> ages;
  ages.reserve(map.size());
  for (const auto& [key, record] : map) ages.emplace_back(record.last_failure, &key);
  std::size_t drop = std::max<std::size_t>(map.size() / 10, 1);
  std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(drop - 1), ages.end());
  std::vector<std::string> victims;
  for (std::size_t i = 0; i < drop; ++i) victims.push_back(*ages[i].second);
  for (const std::string& key : victims) map.erase(key);
}

Throttle::Verdict Throttle::before_attempt(std::string_view address, std::string_view user) {
  TimePoint now = clock_();
  std::string key = address_key(address);
  std::lock_guard lock(mutex_);
  auto it = addresses_.find(key);
  if (it == addresses_.end() || it->second.locked_until <= now) return {};
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now);
  spdlog::debug("auth: refused {} (peer {}, user \"{}\"): locked out for another {}s", key,
                printable(address), printable(user), left.count());
  return {true, left};
}

std::chrono::milliseconds Throttle::after_failure(std::string_view address, std::string_view user) {
  TimePoint now = clock_();
  std::string key = address_key(address);
  std::string name = normalize_name(user);
  std::lock_guard lock(mutex_);

  if (!addresses_.contains(key)) make_room(addresses_, now);
  AddressRecord& a = addresses_[key];
  if (now - a.last_failure >= settings_.window) {
    a.failures = 0;
    a.by_user.clear();
  }
  ++a.failures;
  a.last_failure = now;
  auto mine = std::ranges::find_if(a.by_user, [&](const auto& p) { return p.first == name; });
  if (mine != a.by_user.end()) {
    ++mine->second;
  } else if (a.by_user.size() <= settings_.lockout_after) {  // bounded: names are client input
    a.by_user.emplace_back(name, 1);
  }
  if (a.failures >= settings_.lockout_after) {
    a.locked_until = now + settings_.lockout;
    spdlog::warn(
        "auth: locking out {} (peer {}) for {}s after {} failed authentications, last "
        "for user \"{}\"",
        key, printable(address), settings_.lockout.count(), a.failures, printable(user));
  }

  if (!users_.contains(name)) make_room(users_, now);
  UserRecord& u = users_[name];
  if (now - u.last_failure >= settings_.window) u.failures = 0;
  ++u.failures;
  u.last_failure = now;
  if (u.failures == settings_.delay_after + 1) {
    spdlog::warn(
        "auth: user \"{}\" has {} failed authentications from all peers (last {}); "
        "delaying failed replies",
        printable(user), u.failures, printable(address));
  }
  return std::max(delay_for(a.failures), delay_for(u.failures));
}

void Throttle::after_success(std::string_view address, std::string_view user) {
  TimePoint now = clock_();
  std::string key = address_key(address);
  std::string name = normalize_name(user);
  std::lock_guard lock(mutex_);
  auto a = addresses_.find(key);
  if (a == addresses_.end() || now - a->second.last_failure >= settings_.window) return;
  auto mine =
      std::ranges::find_if(a->second.by_user, [&](const auto& p) { return p.first == name; });
  if (mine == a->second.by_user.end()) return;
  unsigned forgiven = mine->second;
  a->second.by_user.erase(mine);
  a->second.failures -= std::min(forgiven, a->second.failures);
  if (a->second.failures == 0 && a->second.locked_until <= now) addresses_.erase(a);
  if (auto u = users_.find(name); u != users_.end()) {
    u->second.failures -= std::min(forgiven, u->second.failures);
    if (u->second.failures == 0) users_.erase(u);
  }
}

}  // namespace sealpost::auth
