// libFuzzer target for the spool log reader (queue/log_format.hpp): the bytes after a valid
// segment header go through scan_segment, and every record of a committed batch through
// parse_message / parse_finished, as recovery does. Checks that the scan never reports beyond
// the file, that accepted records are whole and of a known type, and that what parses keeps
// the invariants recovery relies on (valid queue id, at least one recipient, DSN entries
// matching the recipients).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "queue/log_format.hpp"
#include "queue/queue_id.hpp"

namespace {

using namespace sealpost::queue;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

void check_record(const log::RecordView& record) {
  if (record.type == log::RecordType::kMessage) {
    log::MessageView view;
    if (log::parse_message(record.payload, view) != nullptr) return;
    if (!is_valid_queue_id(view.id)) fail("message with a bad id");
    if (view.envelope.recipients.empty()) fail("message without recipients");
    const auto& dsn = view.envelope.recipient_dsn;
    if (!dsn.empty() && dsn.size() != view.envelope.recipients.size()) fail("DSN entries");
    if (view.spill && !view.content.empty()) fail("spilled message with inline content");
    // The light parse used by recovery of large queues agrees with the full one.
    log::MessageView light;
    if (log::parse_message(record.payload, light, false) != nullptr) fail("light parse");
  } else if (record.type == log::RecordType::kFinished) {
    std::string_view id;
    std::vector<std::uint32_t> rcpts;
    if (log::parse_finished(record.payload, id, rcpts) != nullptr) return;
    if (!is_valid_queue_id(id) || rcpts.empty()) fail("finished record");
    if (rcpts.size() != (record.payload.size() - log::kIdSize) / 4) fail("finished count");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string file = log::segment_header(1);
  file.append(reinterpret_cast<const char*>(data), size);
  const log::SegmentReport report =
      log::scan_segment(file, 1, [&](std::span<const log::RecordView> batch) {
        for (const auto& record : batch) {
          if (record.type == log::RecordType::kCommit) fail("commit record in a batch");
          if (record.offset + record.size > file.size()) fail("record beyond the file");
          check_record(record);
        }
      });
  if (report.committed_end > file.size()) fail("committed_end beyond the file");
  if (report.problem != nullptr && report.problem_offset > file.size()) fail("problem offset");
  // And the raw bytes as one record, without the header.
  log::RecordView record;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (log::read_record(raw, record) == nullptr) {
    if (record.size > size) fail("record larger than its input");
    check_record(record);
  }
  return 0;
}
