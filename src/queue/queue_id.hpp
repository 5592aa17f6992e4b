// Queue ids: unique within a spool, sortable by arrival time, safe as file names.
// 16 upper-case hex digits of microseconds since the epoch + 5 of a process-wide counter
// mixed with randomness, e.g. "0006411A2B3C4D5E0F3A1". Short enough for a 250 reply and logs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sealpost::queue {

std::string make_queue_id();
bool is_valid_queue_id(std::string_view id);
// Arrival time encoded in the id, in microseconds since the epoch.
std::optional<std::uint64_t> queue_id_micros(std::string_view id);

}  // namespace sealpost::queue
