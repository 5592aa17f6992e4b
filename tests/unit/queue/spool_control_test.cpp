// Spool queue control: hold, release and delete records are synced and replayed at recovery
// (held stays held, deleted stays gone, the last of hold/release wins), segments holding such
// records outlive GC while they matter, many changes share one fdatasync, a failed batch
// reports its error, snapshot() and EnvelopeReader list what is live.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "faulty_file_system.hpp"
#include "queue/queue_id.hpp"
#include "queue/spool.hpp"
#include "queue/spool_scan.hpp"
#include "test_support.hpp"

namespace sealpost::queue {
namespace {

namespace fs = std::filesystem;
using Control = Spool::Control;
using sealpost::queue::testing::FaultyFileSystem;
using sealpost::queue::testing::Op;
using sealpost::testing::list_dir;
using sealpost::testing::QuietLogs;
using sealpost::testing::TempDir;

std::string commit(Spool& spool, const std::string& content = "Subject: x\r\n\r\nbody\r\n",
                   std::vector<std::string> recipients = {"a@example.org"}) {
  const std::string id = make_queue_id();
  const std::string_view parts[] = {content};
  const auto result = spool.commit(id, Envelope{"s@example.net", std::move(recipients)}, parts);
  EXPECT_TRUE(result.ok()) << result.what;
  return id;
}

// What a restart sees: live ids and which of them are held.
struct Restart {
  std::vector<std::string> live;
  std::vector<std::string> held;
};
Restart restart(const fs::path& dir) {
  Spool spool(dir);
  Restart r;
  r.live = spool.recover();
  for (const auto& id : r.live) {
    if (spool.is_held(id)) r.held.push_back(id);
  }
  return r;
}

TEST(SpoolControl, HoldAndReleaseAreDurableAndTheLastOneWins) {
  TempDir temp;
  std::string a, b, c;
  {
    Spool spool(temp.path());
    a = commit(spool);
    b = commit(spool);
    c = commit(spool);
    EXPECT_TRUE(spool.control(Control::kHold, a).ok());
    EXPECT_TRUE(spool.control(Control::kHold, b).ok());
    EXPECT_TRUE(spool.control(Control::kRelease, b).ok());
    EXPECT_TRUE(spool.control(Control::kHold, c).ok());
    EXPECT_TRUE(spool.control(Control::kRelease, c).ok());
    EXPECT_TRUE(spool.control(Control::kHold, c).ok());
    EXPECT_TRUE(spool.is_held(a));
    EXPECT_FALSE(spool.is_held(b));
    EXPECT_TRUE(spool.is_held(c));
  }
  const Restart r = restart(temp.path());
  EXPECT_EQ(r.live, (std::vector<std::string>{a, b, c}));
  EXPECT_EQ(r.held, (std::vector<std::string>{a, c}));
  // And once more: the recovered Spool keeps the state for the next restart.
  EXPECT_EQ(restart(temp.path()).held, (std::vector<std::string>{a, c}));
}

TEST(SpoolControl, RepeatedHoldOrReleaseWritesNothing) {
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty);
  const std::string id = commit(spool);
  const int syncs = faulty.count(Op::kFdatasync);
  EXPECT_TRUE(spool.control(Control::kRelease, id).ok());  // not held: nothing to record
  EXPECT_EQ(faulty.count(Op::kFdatasync), syncs);
  EXPECT_TRUE(spool.control(Control::kHold, id).ok());
  EXPECT_EQ(faulty.count(Op::kFdatasync), syncs + 1);  // synced before it is reported
  EXPECT_TRUE(spool.control(Control::kHold, id).ok());
  EXPECT_EQ(faulty.count(Op::kFdatasync), syncs + 1);
}

TEST(SpoolControl, UnknownAndInvalidIds) {
  TempDir temp;
  Spool spool(temp.path());
  for (auto action : {Control::kHold, Control::kRelease, Control::kDelete}) {
    EXPECT_EQ(spool.control(action, make_queue_id()).error, ENOENT);
    EXPECT_EQ(spool.control(action, "../etc/passwd").error, EINVAL);
  }
  EXPECT_FALSE(spool.is_held("nonsense"));
}

TEST(SpoolControl, DeleteIsSyncedAndReplayedLikeDone) {
  TempDir temp;
  std::string kept, deleted, spilled;
  {
    FaultyFileSystem faulty;
    Spool spool(temp.path(), faulty, {.spill_threshold = 100});
    kept = commit(spool);
    deleted = commit(spool);
    spilled = commit(spool, std::string(500, 'x'));
    ASSERT_TRUE(spool.control(Control::kHold, deleted).ok());
    const int syncs = faulty.count(Op::kFdatasync);
    EXPECT_TRUE(spool.control(Control::kDelete, deleted).ok());
    EXPECT_EQ(faulty.count(Op::kFdatasync), syncs + 1);
    EXPECT_TRUE(spool.control(Control::kDelete, spilled).ok());
    EXPECT_EQ(spool.control(Control::kDelete, deleted).error, ENOENT);
    EXPECT_FALSE(spool.load(deleted).has_value());
    EXPECT_FALSE(spool.is_held(deleted));
    EXPECT_EQ(spool.queued_ids(), std::vector<std::string>{kept});
    EXPECT_TRUE(list_dir(temp.path() / "data").empty());  // the spilled body went with it
  }
  EXPECT_EQ(restart(temp.path()).live, std::vector<std::string>{kept});
}

TEST(SpoolControl, ManyChangesShareOneSync) {
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty);
  std::vector<std::string> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(commit(spool));
  faulty.hold_next_write();  // the first change's batch waits, the rest queue behind it
  std::vector<std::future<CommitResult>> results;
  for (const auto& id : ids) {
    auto promise = std::make_shared<std::promise<CommitResult>>();
    results.push_back(promise->get_future());
    spool.control(Control::kHold, id, [promise](CommitResult r) { promise->set_value(r); });
    if (results.size() == 1) faulty.wait_held();
  }
  const int syncs = faulty.count(Op::kFdatasync);
  faulty.release();
  for (auto& r : results) EXPECT_TRUE(r.get().ok());
  EXPECT_LE(faulty.count(Op::kFdatasync), syncs + 2);
}

TEST(SpoolControl, FailedHoldReportsTheErrorAndChangesNothing) {
  TempDir temp;
  FaultyFileSystem faulty;
  std::string id;
  {
    Spool spool(temp.path(), faulty);
    id = commit(spool);
    QuietLogs quiet;
    faulty.fail_nth(Op::kFdatasync, 1, ENOSPC);
    const CommitResult r = spool.control(Control::kHold, id);
    EXPECT_EQ(r.error, ENOSPC);
    EXPECT_NE(r.what.find("No space left on device"), std::string::npos) << r.what;
    EXPECT_FALSE(spool.is_held(id));
    faulty.disarm();
    EXPECT_TRUE(spool.control(Control::kHold, id).ok());  // works once space returns
  }
  EXPECT_EQ(restart(temp.path()).held, std::vector<std::string>{id});
}

TEST(SpoolControl, FailedDeleteIsReportedAndRetriedWithTheNextBatch) {
  TempDir temp;
  FaultyFileSystem faulty;
  std::string id;
  {
    Spool spool(temp.path(), faulty);
    id = commit(spool);
    QuietLogs quiet;
    faulty.fail_nth(Op::kFdatasync, 1, EIO);
    const CommitResult r = spool.control(Control::kDelete, id);
    EXPECT_EQ(r.error, EIO);
    EXPECT_NE(r.what.find("retried"), std::string::npos) << r.what;
    EXPECT_TRUE(spool.queued_ids().empty());  // gone from this process at once
    faulty.disarm();
    commit(spool);  // the next batch carries the delete record
  }
  const auto live = restart(temp.path()).live;
  EXPECT_EQ(live.size(), 1u);
  EXPECT_NE(live.front(), id);
}

TEST(SpoolControl, DoneOfAMessageWithHoldRecordsIsSynced) {
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty);
  const std::string plain = commit(spool);
  const std::string released = commit(spool);
  ASSERT_TRUE(spool.control(Control::kHold, released).ok());
  ASSERT_TRUE(spool.control(Control::kRelease, released).ok());
  const auto wait_for_syncs = [&faulty](int n) {
    for (int i = 0; i < 2000 && faulty.count(Op::kFdatasync) < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return faulty.count(Op::kFdatasync);
  };
  // A plain done record rides with a later sync...
  const int syncs = faulty.count(Op::kFdatasync);
  ASSERT_EQ(spool.remove(plain), 0);
  commit(spool);  // a batch after the done record's: it has been written by now
  EXPECT_EQ(wait_for_syncs(syncs + 1), syncs + 1);
  // ...but one that frees the segments of hold/release records is synced itself, or a crash
  // could bring the message back with its hold and without the release.
  ASSERT_EQ(spool.remove(released), 0);
  EXPECT_EQ(wait_for_syncs(syncs + 2), syncs + 2);
}

// A delivered message costs no write and no committer wake-up of its own: its done record
// rides the next batch, or goes alone after done_delay; a stop does not wait that out.
TEST(SpoolControl, PlainDoneRecordRidesTheNextBatch) {
  TempDir temp;
  std::string gone, kept;
  {
    FaultyFileSystem faulty;
    Spool spool(temp.path(), faulty, {.done_delay = std::chrono::seconds(30)});
    gone = commit(spool);
    const int writes = faulty.count(Op::kPwritev);
    ASSERT_EQ(spool.remove(gone), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(faulty.count(Op::kPwritev), writes);  // waiting for company
    kept = commit(spool);
    EXPECT_EQ(faulty.count(Op::kPwritev), writes + 1);  // one write for both
  }
  EXPECT_EQ(restart(temp.path()).live, std::vector<std::string>{kept});
}

TEST(SpoolControl, PlainDoneRecordAloneIsWrittenAfterTheDelay) {
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty, {.done_delay = std::chrono::milliseconds(20)});
  const std::string id = commit(spool);
  const int writes = faulty.count(Op::kPwritev);
  const int syncs = faulty.count(Op::kFdatasync);
  ASSERT_EQ(spool.remove(id), 0);
  for (int i = 0; i < 2000 && faulty.count(Op::kPwritev) == writes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(faulty.count(Op::kPwritev), writes + 1);
  EXPECT_EQ(faulty.count(Op::kFdatasync), syncs);  // not synced on its own
}

TEST(SpoolControl, StopDoesNotWaitOutTheDoneDelay) {
  TempDir temp;
  std::string id;
  const auto start = std::chrono::steady_clock::now();
  {
    Spool spool(temp.path(), real_file_system(), {.done_delay = std::chrono::seconds(30)});
    id = commit(spool);
    ASSERT_EQ(spool.remove(id), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the committer is waiting
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(restart(temp.path()).live.empty());
}

TEST(SpoolControl, HoldRecordsKeepTheirSegmentsWhileTheMessageLives) {
  TempDir temp;
  std::string held, released;
  {
    // Tiny segments: every batch rolls to a new one, so holds and releases sit in segments
    // that hold no live message of their own.
    Spool spool(temp.path(), real_file_system(), {.segment_size = 100});
    held = commit(spool);
    released = commit(spool);
    ASSERT_TRUE(spool.control(Control::kHold, held).ok());
    ASSERT_TRUE(spool.control(Control::kHold, released).ok());
    ASSERT_TRUE(spool.control(Control::kRelease, released).ok());
    // Churn: messages come and go, empty segments are collected.
    for (int i = 0; i < 20; ++i) ASSERT_EQ(spool.remove(commit(spool)), 0);
  }
  Restart r = restart(temp.path());
  EXPECT_EQ(r.live, (std::vector<std::string>{held, released}));
  EXPECT_EQ(r.held, std::vector<std::string>{held});
  const std::size_t kept = list_dir(temp.path() / "log").size();

  // Once both are gone, so are the segments their records kept.
  {
    Spool spool(temp.path());
    spool.recover();
    ASSERT_TRUE(spool.control(Control::kDelete, held).ok());
    ASSERT_EQ(spool.remove(released), 0);
  }
  EXPECT_TRUE(restart(temp.path()).live.empty());
  EXPECT_LT(list_dir(temp.path() / "log").size(), kept);
  EXPECT_LE(list_dir(temp.path() / "log").size(), 2u);
}

TEST(SpoolControl, ScanSnapshotAndEnvelopeReader) {
  TempDir temp;
  Spool spool(temp.path(), real_file_system(), {.spill_threshold = 100});
  const std::string a = commit(spool, "small", {"x@example.org", "y@example.org"});
  const std::string b = commit(spool, std::string(300, 'b'));
  const std::string c = commit(spool);
  ASSERT_TRUE(spool.control(Control::kHold, b).ok());
  ASSERT_TRUE(spool.control(Control::kDelete, c).ok());

  const SpoolScan scan = scan_spool(temp.path(), {.envelopes = true});
  ASSERT_EQ(scan.live.size(), 2u);
  EXPECT_FALSE(scan.live[0].held);
  EXPECT_TRUE(scan.live[1].held);
  EXPECT_EQ(scan.live[1].size, 300u);

  std::vector<QueuedMessage> snapshot = spool.snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot[0].key.id(), a);
  EXPECT_EQ(snapshot[1].key.id(), b);
  EXPECT_TRUE(snapshot[1].held);
  EnvelopeReader reader(temp.path());
  ASSERT_TRUE(reader.read(snapshot[0]));
  ASSERT_TRUE(reader.read(snapshot[1]));
  EXPECT_EQ(snapshot[0].size, 5u);
  EXPECT_EQ(snapshot[0].envelope.recipients,
            (std::vector<std::string>{"x@example.org", "y@example.org"}));
  EXPECT_EQ(snapshot[1].size, 300u);  // spilled: the size from its record
  EXPECT_EQ(snapshot[1].envelope.reverse_path, "s@example.net");

  // A message whose segment has gone cannot be read (it was delivered meanwhile).
  QueuedMessage gone = snapshot[0];
  gone.location.segment = 999;
  EXPECT_FALSE(reader.read(gone));
}

}  // namespace
}  // namespace sealpost::queue
