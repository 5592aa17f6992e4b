// The bytes of the spool log (docs/queue-format.md): segment headers, typed length-prefixed
// records each with its own CRC-32, and the commit record that ends every batch. Encoding and
// verification only — no file I/O, no threads; the spool and the read-only scanner use it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"

namespace sealpost::queue::log {

constexpr std::string_view kSegmentMagic = "SEALPOST-LOG-01\n";  // 16 bytes
constexpr std::size_t kSegmentHeaderSize = 24;                   // magic + u64le sequence
constexpr std::size_t kRecordHeaderSize = 5;                     // type u8 + length u32le
constexpr std::size_t kRecordTrailerSize = 4;                    // CRC-32 u32le
constexpr std::size_t kRecordOverhead = kRecordHeaderSize + kRecordTrailerSize;
constexpr std::size_t kIdSize = 21;  // queue_id.hpp: 16 + 5 upper-case hex digits
// A record payload is limited so that a length read from a damaged header cannot make the
// scanner allocate or skip gigabytes; large bodies are spilled to data/ID anyway.
constexpr std::uint32_t kMaxPayload = 1u << 30;

enum class RecordType : std::uint8_t {
  kMessage = 0x01,   // a committed message: id, envelope, content or a reference to data/ID
  kDone = 0x10,      // payload: id — delivered (or bounced/expired): no longer live
  kHold = 0x11,      // payload: id — held by the administrator: not delivered until released
  kRelease = 0x12,   // payload: id — released from hold
  kDelete = 0x13,    // payload: id — deleted by the administrator: no longer live, like done
  kFinished = 0x14,  // payload: id, u32le recipient indexes — delivered or failed for good
  kCommit = 0x7F,    // payload: u32le count of records in this batch before it
};

constexpr std::uint8_t kFlagSmtpUtf8 = 0x01;
constexpr std::uint8_t kFlagBody8Bit = 0x02;
constexpr std::uint8_t kFlagSpilled = 0x04;     // content lives in data/ID
constexpr std::uint8_t kFlagRequireTls = 0x08;  // RFC 8689 REQUIRETLS
// A DSN block (RET, ENVID, per-recipient NOTIFY/ORCPT; RFC 3461) follows the recipients.
// Records written before DSN support have neither bit and decode with no DSN fields.
constexpr std::uint8_t kFlagDsn = 0x10;

std::uint32_t crc32(std::uint32_t crc, std::string_view bytes);

std::string segment_header(std::uint64_t seq);
std::string segment_name(std::uint64_t seq);  // "<16 upper-case hex>.seg"
std::optional<std::uint64_t> parse_segment_name(std::string_view name);

// Where a spilled body lives and how to check it.
struct Spill {
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
};

// A message record in three pieces so the content is written from the caller's memory:
// head (record header + id + flags + envelope), the content parts (none when spilled), tail
// (CRC-32 over head and content).
struct EncodedMessage {
  std::string head;
  std::string tail;
};
EncodedMessage encode_message(std::string_view id, const Envelope& envelope,
                              std::span<const std::string_view> parts,
                              const std::optional<Spill>& spill);
// A record with a small payload (done/hold/release/delete/commit), complete with its CRC.
std::string encode_record(RecordType type, std::string_view payload);
std::string encode_commit(std::uint32_t count);
// A finished record: these recipients of message `id` need no further attempt (delivered, or
// failed and reported), while others are still pending.
std::string encode_finished(std::string_view id, std::span<const std::uint32_t> rcpts);
// Splits a finished record's payload; nullptr on success, else why not.
const char* parse_finished(std::string_view payload, std::string_view& id,
                           std::vector<std::uint32_t>& rcpts);

// One verified record inside a buffer.
struct RecordView {
  RecordType type;
  std::string_view payload;
  std::uint64_t offset = 0;  // of the record's first byte in its segment
  std::uint32_t size = 0;    // whole record, header and CRC included
};

// Verifies the record at the start of `bytes`: complete, known type, CRC. nullptr on success,
// else why not.
const char* read_record(std::string_view bytes, RecordView& out);

// A parsed message payload; views point into the payload.
struct MessageView {
  std::string_view id;
  Envelope envelope;
  std::optional<Spill> spill;
  std::string_view content;  // empty when spilled
  std::uint64_t content_size() const { return spill ? spill->size : content.size(); }
};
// With with_envelope false the envelope is checked but not copied (recovery of large queues).
const char* parse_message(std::string_view payload, MessageView& out, bool with_envelope = true);

// Result of scanning one segment: how far its batches were committed and, if something
// stopped the scan early, where and why.
struct SegmentReport {
  std::uint64_t committed_end = 0;  // byte after the last commit record
  std::uint64_t file_size = 0;
  const char* problem = nullptr;  // torn or corrupt record, bad header; nullptr = clean
  std::uint64_t problem_offset = 0;
  std::size_t discarded_records = 0;  // verified records of a batch with no commit record
};

// Walks a whole segment file: header, then records. Each batch (the records up to and
// including a commit record whose count matches) is passed to on_batch without the commit
// record. The first record that is torn, corrupt or out of place ends the scan: nothing after
// it is reported, and neither is the unfinished batch before it.
SegmentReport scan_segment(std::string_view file, std::uint64_t seq,
                           const std::function<void(std::span<const RecordView>)>& on_batch);

}  // namespace sealpost::queue::log
