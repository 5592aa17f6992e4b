// The log format on its own: segment names, record verification, batch boundaries.
#include "queue/log_format.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sealpost::queue::log {
namespace {

TEST(LogFormat, SegmentNamesRoundTrip) {
  EXPECT_EQ(segment_name(0x2A), "000000000000002A.seg");
  EXPECT_EQ(parse_segment_name("000000000000002A.seg"), 0x2Au);
  EXPECT_FALSE(parse_segment_name("000000000000002a.seg"));
  EXPECT_FALSE(parse_segment_name("000000000000002A.tmp"));
  EXPECT_FALSE(parse_segment_name("2A.seg"));
}

TEST(LogFormat, RecordVerification) {
  const std::string id = "0006411A2B3C4D5E0F3A1";
  const std::string record = encode_record(RecordType::kDone, id);
  RecordView view;
  ASSERT_EQ(read_record(record, view), nullptr);
  EXPECT_EQ(view.type, RecordType::kDone);
  EXPECT_EQ(view.payload, id);
  EXPECT_EQ(view.size, record.size());
  for (std::size_t cut = 0; cut < record.size(); ++cut) {
    EXPECT_NE(read_record(std::string_view(record).substr(0, cut), view), nullptr) << cut;
  }
  std::string zeroed = record;
  zeroed[0] = 0;
  EXPECT_STREQ(read_record(zeroed, view), "unknown record type");
}

TEST(LogFormat, MessageRecordParses) {
  const Envelope envelope{"", {"a@b", "c@d"}, false, true};
  const std::string_view parts[] = {"Received: x\r\n", "body"};
  const EncodedMessage encoded = encode_message("0006411A2B3C4D5E0F3A1", envelope, parts, {});
  const std::string record = encoded.head + "Received: x\r\nbody" + encoded.tail;
  RecordView view;
  ASSERT_EQ(read_record(record, view), nullptr);
  MessageView message;
  ASSERT_EQ(parse_message(view.payload, message), nullptr);
  EXPECT_EQ(message.id, "0006411A2B3C4D5E0F3A1");
  EXPECT_EQ(message.envelope.recipients, envelope.recipients);
  EXPECT_TRUE(message.envelope.body_8bit);
  EXPECT_EQ(message.content, "Received: x\r\nbody");
}

TEST(LogFormat, OnlyCommittedBatchesAreReported) {
  std::string file = segment_header(3);
  file += encode_record(RecordType::kDone, "0006411A2B3C4D5E0F3A1");
  file += encode_commit(1);
  const std::size_t first_end = file.size();
  file += encode_record(RecordType::kDone, "0006411A2B3C4D5E0F3A2");
  file += encode_commit(2);  // wrong count: a damaged batch
  std::vector<std::size_t> sizes;
  const SegmentReport report = scan_segment(
      file, 3, [&](std::span<const RecordView> batch) { sizes.push_back(batch.size()); });
  EXPECT_EQ(sizes, std::vector<std::size_t>{1});
  EXPECT_EQ(report.committed_end, first_end);
  EXPECT_NE(report.problem, nullptr);
  EXPECT_EQ(report.discarded_records, 1u);
  EXPECT_STREQ(scan_segment(file, 4, [](auto) {}).problem,
               "segment header names another sequence number");
}

}  // namespace
}  // namespace sealpost::queue::log
