// Queue id generation and parsing: 16 hex digits of arrival time in microseconds, then 5 of a
// per-process counter that starts at a random value. Unique within one process by
// construction, and across restarts with high probability; not a secret.
#include "queue/queue_id.hpp"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <random>

namespace sealpost::queue {
namespace {

constexpr std::size_t kTimeDigits = 16;
constexpr std::size_t kCounterDigits = 5;
constexpr std::uint32_t kCounterMask = (1u << (4 * kCounterDigits)) - 1;
constexpr char kHex[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;  // lower case is rejected too: ids are file names, one spelling each
}

void append_hex(std::string& out, std::uint64_t value, std::size_t digits) {
  for (std::size_t i = digits; i-- > 0;) out.push_back(kHex[(value >> (4 * i)) & 0xF]);
}

}  // namespace

std::string make_queue_id() {
  static std::mutex mutex;
  static std::uint64_t last_micros = 0;
  static std::uint32_t counter = std::random_device{}() & kCounterMask;

  const auto now = std::chrono::system_clock::now().time_since_epoch();
  auto micros = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(now).count());
  std::uint32_t sequence;
  {
    std::lock_guard lock(mutex);
    // A clock stepping backwards must not break "sortable by arrival": hold the last time.
    if (micros < last_micros) micros = last_micros;
    last_micros = micros;
    counter = (counter + 1) & kCounterMask;
    sequence = counter;
  }
  std::string id;
  id.reserve(kTimeDigits + kCounterDigits);
  append_hex(id, micros, kTimeDigits);
  append_hex(id, sequence, kCounterDigits);
  return id;
}

bool is_valid_queue_id(std::string_view id) {
  if (id.size() != kTimeDigits + kCounterDigits) return false;
  for (char c : id) {
    if (hex_value(c) < 0) return false;
  }
  return true;
}

std::optional<std::uint64_t> queue_id_micros(std::string_view id) {
  if (!is_valid_queue_id(id)) return std::nullopt;
  std::uint64_t micros = 0;
  for (std::size_t i = 0; i < kTimeDigits; ++i) micros = (micros << 4) | hex_value(id[i]);
  return micros;
}

}  // namespace sealpost::queue
