// One queued message as the administrator sees it: envelope, size, arrival and delivery status.
// The JSON object it maps to is the documented, stable shape of `sealpost queue list --json`
// and of the control protocol's list/show replies (docs/control-protocol.md). No I/O.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/scheduler.hpp"
#include "queue/envelope.hpp"

namespace sealpost::control {

// Key order is the documented order, so output reads the same every time.
using Json = nlohmann::ordered_json;

enum class Status { kQueued, kDeferred, kHeld, kActive };
std::string_view status_name(Status status);  // "queued", "deferred", "held", "active"
std::optional<Status> parse_status(std::string_view name);

struct Recipient {
  std::string address;
  std::optional<std::string> delay_reason;  // the reply that deferred it at the last attempt
  // Needs no further attempt: delivered, or failed and reported (the spool's finished records).
  bool finished = false;
};

struct MessageInfo {
  std::string queue_id;
  std::int64_t arrival_time = 0;  // seconds since the epoch (from the queue id)
  std::uint64_t message_size = 0;
  std::string sender;  // without <>; empty for the null reverse-path
  std::vector<Recipient> recipients;
  Status status = Status::kQueued;
  unsigned attempts = 0;
  std::optional<std::int64_t> next_attempt;  // seconds since the epoch; deferred only
  std::optional<std::string> last_error;     // the first delay reason of the last attempt
  // Queued, but its destination ([queue] destination_concurrency) has every slot in use.
  std::optional<std::string> waiting_for;
};

// From the spool's view of a message and, when the daemon runs, the scheduler's. Without a
// scheduler status a message is held (if the spool says so) or queued, with no attempts.
// `finished`: recipient indexes the spool records as finished, ascending.
MessageInfo describe(std::string queue_id, const queue::Envelope& envelope, std::uint64_t size,
                     bool held, const delivery::Scheduler::Status* status,
                     std::span<const std::uint32_t> finished = {});
// The same into an existing MessageInfo, reusing its strings' memory (listings).
void describe(std::string_view queue_id, const queue::Envelope& envelope, std::uint64_t size,
              bool held, const delivery::Scheduler::Status* status,
              std::span<const std::uint32_t> finished, MessageInfo& out);

Json to_json(const MessageInfo& message);
// `show` only: the MAIL and RCPT parameters delivery honours (SMTPUTF8, BODY, REQUIRETLS and
// the DSN ones), decoded; recipients in envelope order. Not in listings, which stay small.
Json envelope_json(const queue::Envelope& envelope);
// The same into `json`, reusing its nodes and strings when it already has the shape: a listing
// of 100,000 messages then allocates almost nothing per message.
void assign_json(const MessageInfo& message, Json& json);
// Reads one message object (a line of `list --json`, or of `show --json`: other members are
// skipped) into `out`, reusing its memory; false unless it has the documented shape. Parses
// with nlohmann's SAX interface, building no tree: the CLI reads 100,000 of these.
bool parse_message(std::string_view line, MessageInfo& out);
std::optional<MessageInfo> parse_message(std::string_view line);

// One line of output: compact, invalid UTF-8 replaced by U+FFFD (never throws on content).
std::string dump(const Json& json);

}  // namespace sealpost::control
