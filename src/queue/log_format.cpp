// Spool log encoding and verification. The layout is specified in docs/queue-format.md; keep
// the two in step. Everything here is pure: buffers in, buffers or views out.
#include "queue/log_format.hpp"

#include <zlib.h>

#include <cstdio>
#include <vector>

#include "queue/queue_id.hpp"

namespace sealpost::queue::log {
namespace {

void append_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

void append_u64(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

std::uint64_t read_le(std::string_view bytes, int size) {
  std::uint64_t value = 0;
  for (int i = size - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

void append_string(std::string& out, std::string_view s) {
  append_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

// Consumes a u32-length-prefixed string; false if it does not fit.
bool take_string(std::string_view& in, std::string_view& out) {
  if (in.size() < 4) return false;
  const std::uint64_t length = read_le(in, 4);
  in.remove_prefix(4);
  if (in.size() < length) return false;
  out = in.substr(0, length);
  in.remove_prefix(length);
  return true;
}

bool has_dsn_block(const Envelope& e) {
  return e.ret != Ret::kUnspecified || !e.envid.empty() || !e.recipient_dsn.empty();
}

std::size_t dsn_block_size(const Envelope& e) {
  std::size_t size = 1 + 4 + e.envid.size() + 4;
  for (const auto& d : e.recipient_dsn) size += 1 + 4 + d.orcpt_type.size() + 4 + d.orcpt.size();
  return size;
}

// docs/queue-format.md "DSN block".
void append_dsn_block(std::string& out, const Envelope& e) {
  out.push_back(static_cast<char>(e.ret));
  append_string(out, e.envid);
  append_u32(out, static_cast<std::uint32_t>(e.recipient_dsn.size()));
  for (const auto& d : e.recipient_dsn) {
    out.push_back(static_cast<char>(d.notify));
    append_string(out, d.orcpt_type);
    append_string(out, d.orcpt);
  }
}

// NEVER only alone (RFC 3461 §4.1); no unknown bits.
bool valid_notify(std::uint8_t notify) {
  if ((notify & ~(kNotifySuccess | kNotifyFailure | kNotifyDelay | kNotifyNever)) != 0)
    return false;
  return (notify & kNotifyNever) == 0 || notify == kNotifyNever;
}

const char* take_dsn_block(std::string_view& in, std::uint64_t nrcpt, Envelope& e, bool keep) {
  if (in.empty() || static_cast<std::uint8_t>(in[0]) > static_cast<std::uint8_t>(Ret::kHdrs))
    return "bad DSN RET";
  const auto ret = static_cast<Ret>(in[0]);
  in.remove_prefix(1);
  std::string_view field;
  if (!take_string(in, field)) return "bad DSN ENVID";
  if (keep) {
    e.ret = ret;
    e.envid = field;
  }
  if (in.size() < 4) return "bad DSN recipient count";
  const std::uint64_t count = read_le(in, 4);
  in.remove_prefix(4);
  // Either none or exactly one entry per recipient: anything else is damage.
  if (count != 0 && count != nrcpt) return "bad DSN recipient count";
  if (keep) e.recipient_dsn.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    RecipientDsn d;
    if (in.empty() || !valid_notify(static_cast<std::uint8_t>(in[0]))) return "bad DSN NOTIFY";
    d.notify = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    std::string_view type, orcpt;
    if (!take_string(in, type) || !take_string(in, orcpt)) return "bad DSN ORCPT";
    if (keep) {
      d.orcpt_type = type;
      d.orcpt = orcpt;
      e.recipient_dsn.push_back(std::move(d));
    }
  }
  return nullptr;
}

bool known_type(std::uint8_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kMessage:
    case RecordType::kDone:
    case RecordType::kHold:
    case RecordType::kRelease:
    case RecordType::kDelete:
    case RecordType::kFinished:
    case RecordType::kCommit:
      return true;
  }
  return false;
}

}  // namespace

std::uint32_t crc32(std::uint32_t crc, std::string_view bytes) {
  return static_cast<std::uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

std::string segment_header(std::uint64_t seq) {
  std::string header(kSegmentMagic);
  append_u64(header, seq);
  return header;
}

std::string segment_name(std::uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof name, "%016llX.seg", static_cast<unsigned long long>(seq));
  return name;
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  if (name.size() != 20 || !name.ends_with(".seg")) return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : name.substr(0, 16)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    seq = (seq << 4) | static_cast<std::uint64_t>(digit);
  }
  return seq;
}

EncodedMessage encode_message(std::string_view id, const Envelope& envelope,
                              std::span<const std::string_view> parts,
                              const std::optional<Spill>& spill) {
  EncodedMessage out;
  std::string& head = out.head;
  std::size_t content_size = 0;
  if (!spill) {
    for (auto part : parts) content_size += part.size();
  }
  std::size_t envelope_size = 4 + envelope.reverse_path.size() + 4;
  for (const auto& rcpt : envelope.recipients) envelope_size += 4 + rcpt.size();
  const bool dsn = has_dsn_block(envelope);
  if (dsn) envelope_size += dsn_block_size(envelope);
  const std::size_t payload_size = kIdSize + 1 + envelope_size + (spill ? 12 : 0) + content_size;
  head.reserve(kRecordHeaderSize + payload_size - content_size);
  head.push_back(static_cast<char>(RecordType::kMessage));
  append_u32(head, static_cast<std::uint32_t>(payload_size));
  head.append(id);
  head.push_back(
      static_cast<char>((envelope.smtputf8 ? kFlagSmtpUtf8 : 0) |
                        (envelope.body_8bit ? kFlagBody8Bit : 0) | (spill ? kFlagSpilled : 0) |
                        (envelope.requiretls ? kFlagRequireTls : 0) | (dsn ? kFlagDsn : 0)));
  append_string(head, envelope.reverse_path);
  append_u32(head, static_cast<std::uint32_t>(envelope.recipients.size()));
  for (const auto& rcpt : envelope.recipients) append_string(head, rcpt);
  if (dsn) append_dsn_block(head, envelope);
  if (spill) {
    append_u64(head, spill->size);
    append_u32(head, spill->crc);
  }
  std::uint32_t crc = crc32(0, head);
  if (!spill) {
    for (auto part : parts) crc = crc32(crc, part);
  }
  append_u32(out.tail, crc);
  return out;
}

std::string encode_record(RecordType type, std::string_view payload) {
  std::string record;
  record.reserve(kRecordOverhead + payload.size());
  record.push_back(static_cast<char>(type));
  append_u32(record, static_cast<std::uint32_t>(payload.size()));
  record.append(payload);
  append_u32(record, crc32(0, record));
  return record;
}

std::string encode_commit(std::uint32_t count) {
  std::string payload;
  append_u32(payload, count);
  return encode_record(RecordType::kCommit, payload);
}

std::string encode_finished(std::string_view id, std::span<const std::uint32_t> rcpts) {
  std::string payload(id);
  for (const std::uint32_t rcpt : rcpts) append_u32(payload, rcpt);
  return encode_record(RecordType::kFinished, payload);
}

const char* parse_finished(std::string_view payload, std::string_view& id,
                           std::vector<std::uint32_t>& rcpts) {
  if (payload.size() < kIdSize + 4 || (payload.size() - kIdSize) % 4 != 0) {
    return "bad finished record length";
  }
  id = payload.substr(0, kIdSize);
  if (!is_valid_queue_id(id)) return "bad queue id in finished record";
  rcpts.clear();
  for (std::size_t at = kIdSize; at < payload.size(); at += 4) {
    rcpts.push_back(static_cast<std::uint32_t>(read_le(payload.substr(at), 4)));
  }
  return nullptr;
}

const char* read_record(std::string_view bytes, RecordView& out) {
  if (bytes.size() < kRecordHeaderSize) return "torn record header";
  const auto type = static_cast<std::uint8_t>(bytes[0]);
  // Checked before the length so that a zeroed (invalidated) or garbage tail stops here.
  if (!known_type(type)) return "unknown record type";
  const std::uint64_t length = read_le(bytes.substr(1), 4);
  if (length > kMaxPayload) return "record length out of range";
  if (bytes.size() - kRecordHeaderSize < length + kRecordTrailerSize) return "torn record";
  const std::string_view covered = bytes.substr(0, kRecordHeaderSize + length);
  const auto stored = static_cast<std::uint32_t>(read_le(bytes.substr(covered.size()), 4));
  if (crc32(0, covered) != stored) return "bad record checksum";
  out.type = static_cast<RecordType>(type);
  out.payload = covered.substr(kRecordHeaderSize);
  out.size = static_cast<std::uint32_t>(covered.size() + kRecordTrailerSize);
  return nullptr;
}

const char* parse_message(std::string_view payload, MessageView& out, bool with_envelope) {
  std::string_view in = payload;
  if (in.size() < kIdSize + 1) return "short message record";
  out.id = in.substr(0, kIdSize);
  if (!is_valid_queue_id(out.id)) return "bad queue id in message record";
  const auto flags = static_cast<std::uint8_t>(in[kIdSize]);
  in.remove_prefix(kIdSize + 1);
  constexpr std::uint8_t kKnownFlags =
      kFlagSmtpUtf8 | kFlagBody8Bit | kFlagSpilled | kFlagRequireTls | kFlagDsn;
  if ((flags & ~kKnownFlags) != 0) return "bad flags";
  out.envelope.smtputf8 = (flags & kFlagSmtpUtf8) != 0;
  out.envelope.body_8bit = (flags & kFlagBody8Bit) != 0;
  out.envelope.requiretls = (flags & kFlagRequireTls) != 0;
  // A reused MessageView must not keep the DSN fields of the previous record.
  out.envelope.ret = Ret::kUnspecified;
  out.envelope.envid.clear();
  out.envelope.recipient_dsn.clear();
  std::string_view field;
  if (!take_string(in, field)) return "bad reverse-path";
  if (with_envelope) out.envelope.reverse_path = field;
  if (in.size() < 4) return "bad recipient count";
  const std::uint64_t count = read_le(in, 4);
  in.remove_prefix(4);
  // Each recipient takes at least its 4-byte length: a count that cannot fit is damage.
  if (count == 0 || count > in.size() / 4) return "bad recipient count";
  out.envelope.recipients.clear();
  if (with_envelope) out.envelope.recipients.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (!take_string(in, field)) return "bad recipient";
    if (with_envelope) out.envelope.recipients.emplace_back(field);
  }
  if ((flags & kFlagDsn) != 0) {
    if (const char* why = take_dsn_block(in, count, out.envelope, with_envelope)) return why;
  }
  out.spill.reset();
  out.content = {};
  if ((flags & kFlagSpilled) != 0) {
    if (in.size() != 12) return "bad spill reference";
    out.spill = Spill{read_le(in, 8), static_cast<std::uint32_t>(read_le(in.substr(8), 4))};
  } else {
    out.content = in;
  }
  return nullptr;
}

SegmentReport scan_segment(std::string_view file, std::uint64_t seq,
                           const std::function<void(std::span<const RecordView>)>& on_batch) {
  SegmentReport report;
  report.file_size = file.size();
  if (file.size() < kSegmentHeaderSize || !file.starts_with(kSegmentMagic)) {
    report.problem = "bad segment header";
    return report;
  }
  if (read_le(file.substr(kSegmentMagic.size()), 8) != seq) {
    report.problem = "segment header names another sequence number";
    return report;
  }
  std::vector<RecordView> batch;
  std::uint64_t pos = kSegmentHeaderSize;
  report.committed_end = pos;
  while (pos < file.size()) {
    RecordView record;
    const char* problem = read_record(file.substr(pos), record);
    if (problem == nullptr && record.type == RecordType::kCommit) {
      if (record.payload.size() != 4 || read_le(record.payload, 4) != batch.size()) {
        problem = "commit record does not match its batch";
      }
    }
    if (problem != nullptr) {
      report.problem = problem;
      report.problem_offset = pos;
      report.discarded_records = batch.size();
      return report;
    }
    record.offset = pos;
    pos += record.size;
    if (record.type == RecordType::kCommit) {
      if (!batch.empty()) on_batch(batch);
      batch.clear();
      report.committed_end = pos;
    } else {
      batch.push_back(record);
    }
  }
  if (!batch.empty()) {
    report.problem = "batch without commit record";
    report.problem_offset = report.committed_end;
    report.discarded_records = batch.size();
  }
  return report;
}

}  // namespace sealpost::queue::log
