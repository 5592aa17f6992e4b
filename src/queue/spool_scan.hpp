// Reading the spool log from disk: every segment in order, every committed batch verified,
// done and delete records applied, hold/release records replayed, giving the live messages,
// where each one is and whether it is held. Read-only: used by Spool::recover() at start, by
// `sealpost queue` when the daemon is not running, and (EnvelopeReader) by queue listings.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"

namespace sealpost::queue {

// A queue id as two integers (16 + 5 hex digits): a compact index key whose order is the
// ids' text order, which is arrival order.
struct MessageKey {
  std::uint64_t micros = 0;
  std::uint32_t counter = 0;
  static std::optional<MessageKey> from_id(std::string_view id);
  std::string id() const;
  auto operator<=>(const MessageKey&) const = default;
};

struct MessageKeyHash {
  std::size_t operator()(const MessageKey& key) const {
    return std::hash<std::uint64_t>{}(key.micros * 0x9E3779B97F4A7C15ull ^ key.counter);
  }
};

// Where a committed message record is.
struct Location {
  std::uint64_t segment = 0;  // sequence number: log/<16 hex>.seg
  std::uint64_t offset = 0;   // of the record in the segment
  std::uint32_t size = 0;     // whole record
  bool spilled = false;       // content in data/ID
};

// What recovery needs to know about a segment to decide when it may be unlinked.
struct SegmentState {
  std::uint32_t live = 0;                // messages in it not yet done
  std::set<std::uint64_t> done_targets;  // segments whose messages its done records retire
  std::uint32_t marks = 0;               // hold/release records in it for live messages
};

struct QueuedMessage {
  MessageKey key;
  Location location;
  Envelope envelope;       // filled only with ScanOptions::envelopes (or EnvelopeReader)
  std::uint64_t size = 0;  // content size (likewise)
  bool held = false;       // its last hold/release record is a hold
  // Recipient indexes its finished records name (delivered, or failed and reported),
  // ascending, without repeats; filled by scan_spool for every live message.
  std::vector<std::uint32_t> finished;
};

struct ScanOptions {
  bool envelopes = false;  // keep each live message's envelope and size (for listings)
  bool log_problems = true;
  // Only segments below this sequence number (a running Spool's own segments are excluded).
  std::uint64_t below_segment = UINT64_MAX;
};

struct StoredMessage {
  std::string id;
  Envelope envelope;
  std::string content;  // the message as it will be delivered (Received header included)
};

struct SpoolScan {
  std::vector<QueuedMessage> live;  // oldest first
  std::map<std::uint64_t, SegmentState> segments;
  // (live message, segment holding one of its hold/release/finished records), for Spool's
  // accounting.
  std::vector<std::pair<MessageKey, std::uint64_t>> marks;
  std::size_t problems = 0;       // segments with a torn or corrupt record
  std::uint64_t max_segment = 0;  // highest sequence number seen (0 = none)
};

SpoolScan scan_spool(const std::filesystem::path& dir, const ScanOptions& options = {});

// Reads and verifies the message record at `location` and, if spilled, its body in data/ID.
// nullopt if unreadable or corrupt (logged).
std::optional<StoredMessage> read_message(const std::filesystem::path& dir, const std::string& id,
                                          const Location& location);

// Reads the envelope and content size of messages one after another from their locations,
// keeping one descriptor per segment open: a listing of 100,000 messages costs one pread each.
class EnvelopeReader {
 public:
  explicit EnvelopeReader(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~EnvelopeReader();
  EnvelopeReader(const EnvelopeReader&) = delete;
  EnvelopeReader& operator=(const EnvelopeReader&) = delete;

  // Fills message.envelope and message.size from the record at message.location. False if it
  // cannot be read or verified (for example its segment was unlinked since: the message is
  // gone); a damaged record is logged.
  bool read(QueuedMessage& message);

 private:
  std::filesystem::path dir_;
  std::map<std::uint64_t, int> fds_;  // segment -> descriptor, -1 once it failed to open
  std::string buffer_;
};

// Scans, then reads one live message: `sealpost queue show` without the daemon.
std::optional<StoredMessage> read_queued(const std::filesystem::path& dir, const std::string& id,
                                         const ScanOptions& options = {});

}  // namespace sealpost::queue
