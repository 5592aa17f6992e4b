// Connection accounting. A mutex is enough: it is taken twice per connection, not per byte.
#include "net/connection_limiter.hpp"

namespace sealpost::net {

std::string ConnectionLimiter::key_of(const asio::ip::address& client) {
  if (client.is_v6()) {
    auto v6 = client.to_v6();
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    auto bytes = v6.to_bytes();
    for (std::size_t i = 8; i < bytes.size(); ++i) bytes[i] = 0;
    return asio::ip::address_v6(bytes).to_string() + "/64";
  }
  return client.to_string();
}

std::optional<ConnectionLimiter::Slot> ConnectionLimiter::acquire(const asio::ip::address& client,
                                                                  std::string* why) {
  std::string key = key_of(client);
  std::lock_guard lock(mutex_);
  if (total_ >= max_total_) {
    *why = "max_connections (" + std::to_string(max_total_) + ") reached";
    return std::nullopt;
  }
  std::size_t& mine = per_ip_[key];
  if (mine >= max_per_ip_) {
    *why = "max_connections_per_ip (" + std::to_string(max_per_ip_) + ") reached for " + key;
    if (mine == 0) per_ip_.erase(key);
    return std::nullopt;
  }
  ++mine;
  ++total_;
  return Slot(this, std::move(key));
}

void ConnectionLimiter::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_ip_.find(key);
  if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
}

std::size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace sealpost::net
