#include "auth/verified_cache.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace sealpost::auth {

namespace {

std::string random_key() {
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return key;
}

// Length-prefixed so that ("ab", "c") and ("a", "bc") never share a MAC input.
void append_field(std::string& out, std::string_view field) {
  std::uint32_t n = static_cast<std::uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(field);
}

}  // namespace

VerifiedCache::VerifiedCache(Options options) : VerifiedCache(options, random_key()) {}

VerifiedCache::VerifiedCache(Options options, std::string key)
    : options_(options), key_(std::move(key)) {}

std::size_t VerifiedCache::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h;  // the digest is already uniformly random
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

std::optional<VerifiedCache::Digest> VerifiedCache::mac(std::string_view user,
                                                        std::string_view password,
                                                        std::string_view hash) const {
  std::string input;
  input.reserve(12 + user.size() + password.size() + hash.size());
  append_field(input, user);
  append_field(input, password);
  append_field(input, hash);
  Digest out{};
  unsigned len = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), out.data(), &len);
  OPENSSL_cleanse(input.data(), input.size());
  if (!ok || len != out.size()) return std::nullopt;
  return out;
}

bool VerifiedCache::contains(std::string_view user, std::string_view password,
                             std::string_view hash, Clock::time_point now) const {
  if (!enabled()) return false;
  auto d = mac(user, password, hash);
  if (!d) return false;
  std::lock_guard lock(mutex_);
  auto it = expiry_.find(*d);
  return it != expiry_.end() && now < it->second;
}

void VerifiedCache::insert(std::string_view user, std::string_view password, std::string_view hash,
                           Clock::time_point now) {
  if (!enabled()) return;
  auto d = mac(user, password, hash);
  if (!d) return;
  const Clock::time_point until = now + options_.ttl;
  std::lock_guard lock(mutex_);
  // Drop what has expired, then the oldest while full. A queue entry whose map entry has
  // since been refreshed is stale: it only leaves the queue.
  while (!order_.empty() &&
         (order_.front().second <= now || expiry_.size() >= options_.max_entries)) {
    auto it = expiry_.find(order_.front().first);
    if (it != expiry_.end() && it->second == order_.front().second) expiry_.erase(it);
    order_.pop_front();
  }
  expiry_[*d] = until;
  order_.emplace_back(*d, until);
}

std::size_t VerifiedCache::size() const {
  std::lock_guard lock(mutex_);
  return expiry_.size();
}

}  // namespace sealpost::auth
