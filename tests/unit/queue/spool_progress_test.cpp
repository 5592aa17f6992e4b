// Finished records (per-recipient progress): the record's bytes, what a restart sees, that the
// record is not synced on its own but survives a failed batch, and that its segment is kept
// while the message lives and collected after.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "faulty_file_system.hpp"
#include "queue/log_format.hpp"
#include "queue/queue_id.hpp"
#include "queue/spool.hpp"
#include "test_support.hpp"

namespace sealpost::queue {
namespace {

using sealpost::queue::testing::FaultyFileSystem;
using sealpost::queue::testing::Op;
using sealpost::testing::list_dir;
using sealpost::testing::QuietLogs;
using sealpost::testing::TempDir;
using Rcpts = std::vector<std::uint32_t>;

std::string commit(Spool& spool, std::size_t recipients = 3) {
  const std::string id = make_queue_id();
  const std::string_view parts[] = {"Subject: x\r\n\r\nbody\r\n"};
  Envelope envelope{"s@example.net", {}};
  for (std::size_t i = 0; i < recipients; ++i) {
    envelope.recipients.push_back("r" + std::to_string(i) + "@example.org");
  }
  const auto result = spool.commit(id, envelope, parts);
  EXPECT_TRUE(result.ok()) << result.what;
  return id;
}

Rcpts after_restart(const std::filesystem::path& dir, const std::string& id) {
  Spool spool(dir);
  const auto live = spool.recover();
  EXPECT_NE(std::find(live.begin(), live.end(), id), live.end()) << id << " not recovered";
  return spool.finished_recipients(id);
}

// Waits until the committer has made `n` calls of `op` (records ride batches asynchronously).
int wait_for(const FaultyFileSystem& faulty, Op op, int n) {
  for (int i = 0; i < 2000 && faulty.count(op) < n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return faulty.count(op);
}

TEST(FinishedRecord, RoundTripsAndRejectsBadPayloads) {
  const std::string id = "0006411A2B3C4D5E0F3A1";
  const std::string record = log::encode_finished(id, Rcpts{0, 7, 70000});
  log::RecordView view;
  ASSERT_EQ(log::read_record(record, view), nullptr);
  EXPECT_EQ(view.type, log::RecordType::kFinished);
  std::string_view parsed_id;
  Rcpts rcpts;
  ASSERT_EQ(log::parse_finished(view.payload, parsed_id, rcpts), nullptr);
  EXPECT_EQ(parsed_id, id);
  EXPECT_EQ(rcpts, (Rcpts{0, 7, 70000}));
  EXPECT_NE(log::parse_finished(id, parsed_id, rcpts), nullptr);          // no recipient
  EXPECT_NE(log::parse_finished(id + "abc", parsed_id, rcpts), nullptr);  // not 4-byte aligned
  EXPECT_NE(log::parse_finished("../../etc/passwd/xxxxxabcd", parsed_id, rcpts), nullptr);
}

TEST(SpoolProgress, FinishedRecipientsSurviveRestarts) {
  TempDir temp;
  std::string id, other;
  {
    Spool spool(temp.path());
    id = commit(spool);
    other = commit(spool);
    EXPECT_TRUE(spool.finished_recipients(id).empty());
    ASSERT_EQ(spool.finish_recipients(id, {2, 0, 2}), 0);
    EXPECT_EQ(spool.finished_recipients(id), (Rcpts{0, 2}));  // sorted, without repeats
  }
  EXPECT_EQ(after_restart(temp.path(), id), (Rcpts{0, 2}));
  EXPECT_TRUE(after_restart(temp.path(), other).empty());
  {
    // More progress after a restart adds to what was recovered.
    Spool spool(temp.path());
    spool.recover();
    ASSERT_EQ(spool.finish_recipients(id, {1}), 0);
    EXPECT_EQ(spool.finished_recipients(id), (Rcpts{0, 1, 2}));
  }
  EXPECT_EQ(after_restart(temp.path(), id), (Rcpts{0, 1, 2}));
}

TEST(SpoolProgress, UnknownAndInvalid) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string id = commit(spool);
  EXPECT_EQ(spool.finish_recipients(make_queue_id(), {0}), ENOENT);
  EXPECT_EQ(spool.finish_recipients("../etc/passwd", {0}), EINVAL);
  EXPECT_EQ(spool.finish_recipients(id, {}), EINVAL);
  ASSERT_EQ(spool.remove(id), 0);
  EXPECT_EQ(spool.finish_recipients(id, {0}), ENOENT);
  EXPECT_TRUE(spool.finished_recipients(id).empty());
}

TEST(SpoolProgress, NotSyncedOnItsOwnButWithTheDone) {
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty);
  const std::string id = commit(spool);
  const int syncs = faulty.count(Op::kFdatasync);
  const int writes = faulty.count(Op::kPwritev);
  ASSERT_EQ(spool.finish_recipients(id, {1}), 0);
  ASSERT_EQ(wait_for(faulty, Op::kPwritev, writes + 1), writes + 1);
  // A lost finished record means one repeat attempt, like a lost done record: no sync of its own.
  EXPECT_EQ(faulty.count(Op::kFdatasync), syncs);
  // But the done record of such a message is synced: it frees the segments holding them.
  ASSERT_EQ(spool.remove(id), 0);
  EXPECT_EQ(wait_for(faulty, Op::kFdatasync, syncs + 1), syncs + 1);
}

TEST(SpoolProgress, RecordOfAFailedBatchIsWrittenWithTheNext) {
  TempDir temp;
  std::string id;
  {
    FaultyFileSystem faulty;
    Spool spool(temp.path(), faulty);
    id = commit(spool);
    QuietLogs quiet;
    faulty.fail_nth(Op::kPwritev, 1, EIO);
    const int writes = faulty.count(Op::kPwritev);
    ASSERT_EQ(spool.finish_recipients(id, {0, 1}), 0);
    ASSERT_EQ(wait_for(faulty, Op::kPwritev, writes + 1), writes + 1);  // that batch failed
    commit(spool);  // the next batch carries the record
  }
  EXPECT_EQ(after_restart(temp.path(), id), (Rcpts{0, 1}));
}

TEST(SpoolProgress, SegmentsKeptWhileTheMessageLivesAndCollectedAfter) {
  TempDir temp;
  std::string id;
  std::size_t kept = 0;
  {
    // Tiny segments: every batch rolls to a new one, so each finished record sits in a
    // segment with no live message of its own.
    Spool spool(temp.path(), real_file_system(), {.segment_size = 100});
    id = commit(spool);
    ASSERT_EQ(spool.finish_recipients(id, {0}), 0);
    commit(spool);  // rolls on; the record above is written by now
    ASSERT_EQ(spool.finish_recipients(id, {2}), 0);
    for (int i = 0; i < 20; ++i) ASSERT_EQ(spool.remove(commit(spool)), 0);
  }
  EXPECT_EQ(after_restart(temp.path(), id), (Rcpts{0, 2}));
  kept = list_dir(temp.path() / "log").size();
  {
    Spool spool(temp.path());
    for (const auto& live : spool.recover()) ASSERT_EQ(spool.remove(live), 0);
  }
  {
    Spool spool(temp.path());
    EXPECT_TRUE(spool.recover().empty());
  }
  EXPECT_LT(list_dir(temp.path() / "log").size(), kept);
  EXPECT_LE(list_dir(temp.path() / "log").size(), 2u);
}

}  // namespace
}  // namespace sealpost::queue
