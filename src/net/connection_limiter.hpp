// Caps open sessions in total and per client address (IPv6 counted per /64, the unit one
// subscriber usually holds), so thousands of idle or slowloris connections from one place
// cannot starve everyone else. Thread-safe: every event loop shares one limiter.
#pragma once

#include <asio/ip/address.hpp>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace sealpost::net {

class ConnectionLimiter {
 public:
  ConnectionLimiter(std::size_t max_total, std::size_t max_per_ip)
      : max_total_(max_total), max_per_ip_(max_per_ip) {}

  // Released when destroyed. Move-only.
  class Slot {
   public:
    Slot(ConnectionLimiter* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    Slot(Slot&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), key_(other.key_) {}
    Slot& operator=(Slot&&) = delete;
    ~Slot() {
      if (owner_) owner_->release(key_);
    }

   private:
    ConnectionLimiter* owner_;
    std::string key_;
  };

  // nullopt when a limit is reached; *why says which.
  std::optional<Slot> acquire(const asio::ip::address& client, std::string* why);
  std::size_t open() const;

 private:
  void release(const std::string& key);
  static std::string key_of(const asio::ip::address& client);

  std::size_t max_total_;
  std::size_t max_per_ip_;
  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_ip_;
};

}  // namespace sealpost::net
