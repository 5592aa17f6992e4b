// Spool: byte-exact round trips (inline and spilled bodies), group commit sharing fsyncs
// between threads, recovery of torn tails and bit flips (never a partial or altered message),
// failures injected at the Nth call of every file operation (a failed batch fails all its
// requests and leaves nothing recoverable), done records and segment GC, 100k-message recovery.
#include "queue/spool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "faulty_file_system.hpp"
#include "queue/log_format.hpp"
#include "queue/queue_id.hpp"
#include "queue/spool_scan.hpp"
#include "test_support.hpp"

namespace sealpost::queue {
namespace {

namespace fs = std::filesystem;
using sealpost::queue::testing::FaultyFileSystem;
using sealpost::queue::testing::Op;
using sealpost::testing::list_dir;
using sealpost::testing::QuietLogs;
using sealpost::testing::read_file;
using sealpost::testing::TempDir;
using sealpost::testing::write_file;

Envelope sample_envelope() {
  return Envelope{"sender@example.net", {"alice@example.org", "Bob@Example.org"}, true, true};
}

std::string binary_content() {
  std::string content = "Received: from x\r\nSubject: t\r\n\r\nline\r\nbare\rcr and \n lf\r\n";
  content.push_back('\0');
  content += "after NUL \xff\xfe\x80 8-bit \xc3\xa9\r\n.\r\n";
  for (int i = 0; i < 256; ++i) content.push_back(static_cast<char>(i));
  return content;
}

// Distinct, deterministic content of about `size` bytes.
std::string content_for(int n, std::size_t size) {
  std::string content = "Subject: message " + std::to_string(n) + "\r\n\r\n";
  for (std::size_t i = 0; content.size() < size; ++i) {
    content.push_back(static_cast<char>((i * 31 + static_cast<std::size_t>(n)) & 0xFF));
  }
  return content;
}

CommitResult commit_one(Spool& spool, const std::string& id, const std::string& content) {
  const std::size_t split = std::min<std::size_t>(10, content.size());
  const std::string_view parts[] = {std::string_view(content).substr(0, split),
                                    std::string_view(content).substr(split)};
  return spool.commit(id, sample_envelope(), parts);
}

// A submission whose content outlives it; the result arrives through the future.
struct Async {
  std::string id = make_queue_id();
  std::string content;
  std::future<CommitResult> result;
};

std::unique_ptr<Async> submit(Spool& spool, std::string content) {
  auto async = std::make_unique<Async>();
  async->content = std::move(content);
  auto promise = std::make_shared<std::promise<CommitResult>>();
  async->result = promise->get_future();
  spool.submit(CommitRequest{async->id, sample_envelope(), {async->content}},
               [promise](CommitResult r) { promise->set_value(std::move(r)); });
  return async;
}

// Recovers `dir` in a fresh Spool on the real file system: what a restart would deliver.
std::map<std::string, std::string> recovered(const fs::path& dir) {
  Spool spool(dir);
  std::map<std::string, std::string> out;
  for (const auto& id : spool.recover()) {
    auto message = spool.load(id);
    EXPECT_TRUE(message.has_value()) << id;
    if (message) out[id] = message->content;
  }
  return out;
}

// Sanitizers slow recovery several-fold; the bound is for the plain build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kRecoverySeconds = 15.0;
#else
constexpr double kRecoverySeconds = 3.0;
#endif

std::string only_segment(const fs::path& dir) {
  const auto names = list_dir(dir / "log");
  EXPECT_EQ(names.size(), 1u);
  return names.empty() ? "" : names.front();
}

TEST(Spool, CreatesPrivateDirectories) {
  TempDir temp;
  Spool spool(temp.path() / "state" / "spool");
  for (const char* sub : {"", "log", "data"}) {
    const auto status = fs::status(temp.path() / "state" / "spool" / sub);
    EXPECT_TRUE(fs::is_directory(status));
    EXPECT_EQ(status.permissions() & fs::perms::all, fs::perms::owner_all);
  }
}

TEST(Spool, CommitLoadRoundTripIsByteExact) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string id = make_queue_id();
  const std::string content = binary_content();
  const CommitResult result = commit_one(spool, id, content);
  ASSERT_TRUE(result.ok()) << result.what;

  const auto loaded = spool.load(id);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->id, id);
  EXPECT_EQ(loaded->content, content);
  EXPECT_EQ(loaded->envelope.reverse_path, "sender@example.net");
  EXPECT_EQ(loaded->envelope.recipients,
            (std::vector<std::string>{"alice@example.org", "Bob@Example.org"}));
  EXPECT_TRUE(loaded->envelope.smtputf8);
  EXPECT_TRUE(loaded->envelope.body_8bit);
  EXPECT_TRUE(list_dir(temp.path() / "data").empty());  // small: inline in the log
  EXPECT_EQ(read_file(temp.path() / "log" / only_segment(temp.path())).substr(0, 16),
            "SEALPOST-LOG-01\n");
}

TEST(Spool, LargeBodyIsSpilledAndRoundTrips) {
  TempDir temp;
  Spool spool(temp.path(), real_file_system(), {.spill_threshold = 1000});
  const std::string id = make_queue_id();
  const std::string content = content_for(1, 5000) + binary_content();
  ASSERT_TRUE(commit_one(spool, id, content).ok());
  EXPECT_EQ(list_dir(temp.path() / "data"), std::vector<std::string>{id});
  EXPECT_EQ(read_file(temp.path() / "data" / id), content);
  EXPECT_LT(fs::file_size(temp.path() / "log" / only_segment(temp.path())), 1000u);
  EXPECT_EQ(spool.load(id)->content, content);

  // A damaged body is caught by the CRC in its log record.
  std::string damaged = content;
  damaged[4000] ^= 0x01;
  write_file(temp.path() / "data" / id, damaged);
  QuietLogs quiet;
  EXPECT_FALSE(spool.load(id).has_value());
}

TEST(Spool, NullReversePathEmptyContentAndClearedFlags) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string id = make_queue_id();
  ASSERT_TRUE(spool.commit(id, Envelope{"", {"a@b"}, false, false}, {}).ok());
  const auto loaded = spool.load(id);
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->envelope.reverse_path, "");
  EXPECT_EQ(loaded->content, "");
  EXPECT_FALSE(loaded->envelope.smtputf8);
  EXPECT_FALSE(loaded->envelope.body_8bit);
}

TEST(Spool, RejectsBadIdsEmptyEnvelopeAndDuplicates) {
  TempDir temp;
  Spool spool(temp.path());
  QuietLogs quiet;
  EXPECT_EQ(spool.commit("../escape", sample_envelope(), {}).error, EINVAL);
  EXPECT_EQ(spool.commit(make_queue_id(), Envelope{"a@b", {}, false, false}, {}).error, EINVAL);
  const std::string id = make_queue_id();
  ASSERT_TRUE(commit_one(spool, id, "x").ok());
  EXPECT_EQ(commit_one(spool, id, "y").error, EEXIST);
  EXPECT_FALSE(spool.load("../../etc/passwd").has_value());
  EXPECT_FALSE(spool.load(make_queue_id()).has_value());  // unknown
  EXPECT_EQ(spool.remove("nope"), EINVAL);
}

TEST(Spool, RemoveForgetsTheMessageAcrossRestarts) {
  TempDir temp;
  const std::string kept = make_queue_id();
  const std::string gone = make_queue_id();
  {
    Spool spool(temp.path());
    ASSERT_TRUE(commit_one(spool, kept, "kept").ok());
    ASSERT_TRUE(commit_one(spool, gone, "gone").ok());
    EXPECT_EQ(spool.remove(gone), 0);
    EXPECT_EQ(spool.remove(gone), ENOENT);
    EXPECT_EQ(spool.queued_ids(), std::vector<std::string>{kept});
  }
  EXPECT_EQ(recovered(temp.path()), (std::map<std::string, std::string>{{kept, "kept"}}));
}

TEST(Spool, RecoverListsOldestFirstAndLoadsAfterRestart) {
  TempDir temp;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(make_queue_id());
  {
    // Commit order is not arrival order, and segments rotate in between.
    Spool spool(temp.path(), real_file_system(), {.segment_size = 200});
    for (int i : {3, 1, 4, 0, 2}) ASSERT_TRUE(commit_one(spool, ids[i], content_for(i, 50)).ok());
    EXPECT_GT(list_dir(temp.path() / "log").size(), 1u);
  }
  Spool spool(temp.path());
  EXPECT_EQ(spool.recover(), ids);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(spool.load(ids[i])->content, content_for(i, 50));
  // New segments are numbered after the old ones, and old and new mix in one index.
  const std::string later = make_queue_id();
  ASSERT_TRUE(commit_one(spool, later, "later").ok());
  EXPECT_EQ(spool.queued_ids().back(), later);
  EXPECT_EQ(spool.load(ids[0])->content, content_for(0, 50));
}

TEST(Spool, ConcurrentSubmittersShareFsyncs) {
  TempDir temp;
  FaultyFileSystem counting;
  constexpr int kThreads = 16;
  constexpr int kPerThread = 100;
  std::vector<std::vector<std::pair<std::string, std::string>>> sent(kThreads);
  {
    Spool spool(temp.path(), counting);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const std::string id = make_queue_id();
          std::string content = content_for(t * 1000 + i, 1024);
          const CommitResult result = commit_one(spool, id, content);
          ASSERT_TRUE(result.ok()) << result.what;
          sent[t].emplace_back(id, std::move(content));
        }
      });
    }
    for (auto& thread : threads) thread.join();
  }
  const int messages = kThreads * kPerThread;
  const int syncs = counting.count(Op::kFdatasync);
  std::printf("[ group    ] %d messages from %d threads: %d fdatasync (%.3f per message)\n",
              messages, kThreads, syncs, static_cast<double>(syncs) / messages);
  EXPECT_LT(syncs, messages / 4);
  const auto back = recovered(temp.path());
  ASSERT_EQ(back.size(), static_cast<std::size_t>(messages));
  for (const auto& list : sent) {
    for (const auto& [id, content] : list) ASSERT_EQ(back.at(id), content);
  }
}

// Commits `early` messages one batch each, then `late` messages as one batch. Returns the
// ids and contents of each group and the offset where the last batch starts.
struct TwoBatches {
  std::map<std::string, std::string> early;
  std::map<std::string, std::string> late;
  std::uint64_t late_start = 0;
  std::string segment;
};

TwoBatches write_two_batches(const fs::path& dir, int early, int late, bool spill_one) {
  TwoBatches out;
  FaultyFileSystem gate;
  Spool spool(dir, gate, {.spill_threshold = 300});
  for (int i = 0; i < early; ++i) {
    const std::string id = make_queue_id();
    out.early[id] = content_for(i, 60 + 20 * i);
    EXPECT_TRUE(commit_one(spool, id, out.early[id]).ok());
  }
  out.segment = only_segment(dir);
  out.late_start = fs::file_size(dir / "log" / out.segment);
  gate.hold_next_write();
  auto plug = submit(spool, "plug");  // its batch is held inside pwritev...
  gate.wait_held();
  std::vector<std::unique_ptr<Async>> batch;  // ...while these queue up as one batch
  for (int i = 0; i < late; ++i) {
    batch.push_back(submit(spool, content_for(100 + i, spill_one && i == 1 ? 2000 : 40 + 7 * i)));
  }
  gate.release();
  EXPECT_TRUE(plug->result.get().ok());
  out.early[plug->id] = plug->content;
  out.late_start = fs::file_size(dir / "log" / out.segment);
  for (auto& a : batch) {
    EXPECT_TRUE(a->result.get().ok());
    out.late[a->id] = a->content;
  }
  return out;
}

TEST(Spool, TornLastBatchIsNeverPartlyDelivered) {
  TempDir temp;
  const TwoBatches written = write_two_batches(temp.path() / "orig", 3, 5, true);
  const std::string whole = read_file(temp.path() / "orig" / "log" / written.segment);
  std::map<std::string, std::string> all = written.early;
  all.insert(written.late.begin(), written.late.end());

  QuietLogs quiet;
  for (std::uint64_t cut = written.late_start; cut <= whole.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(whole.size()));
    const fs::path dir = temp.path() / ("cut" + std::to_string(cut));
    fs::create_directories(dir / "log");
    fs::copy(temp.path() / "orig" / "data", dir / "data");
    write_file(dir / "log" / written.segment, whole.substr(0, cut));
    const auto back = recovered(dir);
    ASSERT_EQ(back, cut == whole.size() ? all : written.early);
    if (cut < whole.size()) {
      EXPECT_TRUE(list_dir(dir / "data").empty());  // orphan removed
    }
    fs::remove_all(dir);
  }
}

TEST(Spool, EveryBitFlipIsCaughtAndEarlierBatchesSurvive) {
  TempDir temp;
  const fs::path orig = temp.path() / "orig";
  // Batch boundaries: commit one message per batch and note where each batch ends.
  std::vector<std::pair<std::uint64_t, std::pair<std::string, std::string>>> batches;
  std::string segment;
  {
    Spool spool(orig);
    for (int i = 0; i < 3; ++i) {
      const std::string id = make_queue_id();
      const std::string content = content_for(i, 40);
      ASSERT_TRUE(commit_one(spool, id, content).ok());
      segment = only_segment(orig);
      batches.push_back({fs::file_size(orig / "log" / segment), {id, content}});
    }
  }
  const std::string whole = read_file(orig / "log" / segment);
  const fs::path dir = temp.path() / "flip";
  fs::create_directories(dir / "log");
  fs::create_directories(dir / "data");
  QuietLogs quiet;
  for (std::size_t byte = 0; byte < whole.size(); ++byte) {
    for (int bit = 0; bit < 8; bit += 3) {
      SCOPED_TRACE("byte " + std::to_string(byte) + " bit " + std::to_string(bit));
      std::string flipped = whole;
      flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
      for (const auto& name : list_dir(dir / "log")) fs::remove(dir / "log" / name);
      write_file(dir / "log" / segment, flipped);
      std::map<std::string, std::string> expected;
      if (byte >= log::kSegmentHeaderSize) {
        for (const auto& [end, message] : batches) {
          if (end <= byte) expected.insert(message);
        }
      }
      ASSERT_EQ(recovered(dir), expected);
    }
  }
}

struct Fault {
  Op op;
  int nth;
};

TEST(Spool, FaultAtNthCallFailsItsBatchAndLeavesNothingRecoverable) {
  const std::vector<Fault> faults = {
      {Op::kOpenNew, 1},   {Op::kOpenNew, 2},   {Op::kOpenNew, 3},   {Op::kPwritev, 1},
      {Op::kPwritev, 2},   {Op::kPwritev, 3},   {Op::kPwritev, 5},   {Op::kWrite, 1},
      {Op::kWrite, 2},     {Op::kFdatasync, 1}, {Op::kFdatasync, 2}, {Op::kFdatasync, 3},
      {Op::kFdatasync, 6}, {Op::kClose, 1},     {Op::kFsyncDir, 1},  {Op::kFsyncDir, 2},
      {Op::kFsyncDir, 3},
  };
  QuietLogs quiet;
  for (int error : {ENOSPC, EIO}) {
    for (const Fault& fault : faults) {
      SCOPED_TRACE(std::string(testing::op_name(fault.op)) + " call " + std::to_string(fault.nth) +
                   " errno " + std::to_string(error));
      TempDir temp;
      FaultyFileSystem faulty;
      std::map<std::string, std::string> committed;
      int failures = 0;
      {
        // Small segments and a low spill threshold: every kind of file operation occurs.
        Spool spool(temp.path(), faulty, {.spill_threshold = 500, .segment_size = 700});
        faulty.fail_nth(fault.op, fault.nth, error);
        for (int i = 0; i < 8; ++i) {
          const std::string id = make_queue_id();
          const std::string content = content_for(i, i % 3 == 1 ? 2000 : 100);
          const CommitResult result = commit_one(spool, id, content);
          if (result.ok()) {
            committed[id] = content;
          } else {
            ++failures;
            EXPECT_EQ(result.error, error) << result.what;
            EXPECT_FALSE(result.what.empty());
            EXPECT_FALSE(spool.load(id).has_value());
          }
        }
        EXPECT_EQ(failures, 1);
        faulty.disarm();
        for (int i = 0; i < 2; ++i) {
          const std::string id = make_queue_id();
          ASSERT_TRUE(commit_one(spool, id, content_for(50 + i, 100)).ok());
          committed[id] = content_for(50 + i, 100);
        }
      }
      EXPECT_EQ(recovered(temp.path()), committed);
      for (const auto& name : list_dir(temp.path() / "data")) EXPECT_TRUE(committed.contains(name));
    }
  }
}

TEST(Spool, FailedBatchFailsEveryRequestInIt) {
  for (Op op : {Op::kPwritev, Op::kFdatasync}) {
    SCOPED_TRACE(testing::op_name(op));
    TempDir temp;
    FaultyFileSystem faulty;
    std::map<std::string, std::string> committed;
    QuietLogs quiet;
    {
      Spool spool(temp.path(), faulty);
      const std::string first = make_queue_id();
      ASSERT_TRUE(commit_one(spool, first, "first").ok());
      committed[first] = "first";
      faulty.hold_next_write();
      auto plug = submit(spool, "plug");
      faulty.wait_held();
      std::vector<std::unique_ptr<Async>> batch;
      for (int i = 0; i < 8; ++i) batch.push_back(submit(spool, content_for(i, 80)));
      faulty.fail_nth(op, op == Op::kPwritev ? 2 : 2, ENOSPC);  // the plug's call is the 1st
      faulty.release();
      ASSERT_TRUE(plug->result.get().ok());
      committed[plug->id] = plug->content;
      for (auto& a : batch) {
        const CommitResult result = a->result.get();
        EXPECT_EQ(result.error, ENOSPC);
        EXPECT_FALSE(spool.load(a->id).has_value());
      }
      faulty.disarm();
      auto after = submit(spool, "after");
      ASSERT_TRUE(after->result.get().ok());
      committed[after->id] = "after";
      EXPECT_EQ(only_segment(temp.path()).size(), 20u);  // truncated and reused, not sealed
    }
    EXPECT_EQ(recovered(temp.path()), committed);
  }
}

TEST(Spool, UntruncatableFailedBatchIsInvalidatedAndSegmentSealed) {
  TempDir temp;
  FaultyFileSystem faulty;
  std::map<std::string, std::string> committed;
  QuietLogs quiet;
  {
    Spool spool(temp.path(), faulty);
    const std::string first = make_queue_id();
    ASSERT_TRUE(commit_one(spool, first, "first").ok());
    committed[first] = "first";
    // The whole batch reaches the file, its fdatasync fails, and it cannot be cut off.
    faulty.fail_nth(Op::kFdatasync, 1, EIO);
    faulty.fail_always(Op::kFtruncate, EIO);
    const std::string failed = make_queue_id();
    EXPECT_EQ(commit_one(spool, failed, "failed").error, EIO);
    faulty.disarm();
    const std::string later = make_queue_id();
    ASSERT_TRUE(commit_one(spool, later, "later").ok());
    committed[later] = "later";
    EXPECT_EQ(list_dir(temp.path() / "log").size(), 2u);  // the later batch is in a new segment
  }
  EXPECT_EQ(recovered(temp.path()), committed);
}

TEST(Spool, DoneRecordsRetireMessagesAndEmptySegmentsAreUnlinked) {
  TempDir temp;
  std::map<std::string, std::string> live;
  std::mt19937 random(42);
  {
    Spool spool(temp.path(), real_file_system(), {.spill_threshold = 400, .segment_size = 600});
    std::vector<std::string> ids;
    for (int i = 0; i < 300; ++i) {
      const std::string id = make_queue_id();
      const std::string content = content_for(i, i % 10 == 0 ? 1000 : 60);
      ASSERT_TRUE(commit_one(spool, id, content).ok());
      live[id] = content;
      ids.push_back(id);
      // Remove a random earlier message about as often as one arrives, leaving a few behind.
      if (ids.size() > 3 && random() % 10 < 9) {
        const std::size_t pick = random() % (ids.size() - 1);
        ASSERT_EQ(spool.remove(ids[pick]), 0);
        live.erase(ids[pick]);
        ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(pick));
      }
    }
    EXPECT_EQ(spool.queued_ids().size(), live.size());
  }
  const std::size_t segments_before = list_dir(temp.path() / "log").size();
  EXPECT_EQ(recovered(temp.path()), live);
  const std::size_t segments_after = list_dir(temp.path() / "log").size();
  std::printf("[ gc       ] %zu live of 300; %zu segment files kept (%zu after recovery)\n",
              live.size(), segments_before, segments_after);
  EXPECT_LT(segments_before, 300u / 2);
  // Spilled bodies go with their done records.
  for (const auto& name : list_dir(temp.path() / "data")) EXPECT_TRUE(live.contains(name));

  // Delivering the rest leaves one segment (the one a new Spool wrote its done records to).
  {
    Spool spool(temp.path());
    for (const auto& id : spool.recover()) ASSERT_EQ(spool.remove(id), 0);
  }
  EXPECT_TRUE(recovered(temp.path()).empty());
  EXPECT_LE(list_dir(temp.path() / "log").size(), 1u);
  EXPECT_TRUE(list_dir(temp.path() / "data").empty());
}

TEST(Spool, OrphanBodiesAndEmptySegmentsAreCleanedAtRecovery) {
  TempDir temp;
  { Spool spool(temp.path()); }
  const std::string orphan = make_queue_id();
  write_file(temp.path() / "data" / orphan, "spilled for a batch that never committed");
  write_file(temp.path() / "log" / log::segment_name(7), "");  // created, then the crash
  QuietLogs quiet;
  EXPECT_TRUE(recovered(temp.path()).empty());
  EXPECT_TRUE(list_dir(temp.path() / "data").empty());
  EXPECT_TRUE(list_dir(temp.path() / "log").empty());
}

TEST(Spool, ReadOnlyScanListsAndShowsWithoutTakingOver) {
  TempDir temp;
  Spool spool(temp.path(), real_file_system(), {.spill_threshold = 1000});
  const std::string small = make_queue_id();
  const std::string large = make_queue_id();
  ASSERT_TRUE(commit_one(spool, small, "small").ok());
  ASSERT_TRUE(commit_one(spool, large, content_for(9, 3000)).ok());
  const auto scan = scan_spool(temp.path(), {.envelopes = true});
  ASSERT_EQ(scan.live.size(), 2u);
  EXPECT_EQ(scan.live[0].key.id(), small);
  EXPECT_EQ(scan.live[0].size, 5u);
  EXPECT_EQ(scan.live[1].size, content_for(9, 3000).size());
  EXPECT_EQ(scan.live[1].envelope.recipients, sample_envelope().recipients);
  EXPECT_EQ(read_queued(temp.path(), large)->content, content_for(9, 3000));
  EXPECT_FALSE(read_queued(temp.path(), make_queue_id()).has_value());
}

TEST(Spool, HundredThousandTinyMessagesRecoverQuickly) {
  TempDir temp;
  constexpr int kMessages = 100000;
  std::vector<std::unique_ptr<Async>> sent;
  sent.reserve(kMessages);
  {
    Spool spool(temp.path());
    for (int i = 0; i < kMessages; ++i) sent.push_back(submit(spool, content_for(i, 200)));
    for (auto& a : sent) ASSERT_TRUE(a->result.get().ok());
  }
  const auto start = std::chrono::steady_clock::now();
  Spool spool(temp.path());
  const auto ids = spool.recover();
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  std::printf("[ recover  ] %d messages in %zu segment(s): %.3f s\n", kMessages,
              list_dir(temp.path() / "log").size(), elapsed.count());
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kMessages));
  EXPECT_LT(elapsed.count(), kRecoverySeconds);
  for (int i : {0, 4567, kMessages - 1}) {
    EXPECT_EQ(spool.load(sent[i]->id)->content, sent[i]->content);
  }
}

}  // namespace
}  // namespace sealpost::queue
