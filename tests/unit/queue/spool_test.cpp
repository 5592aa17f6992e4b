// Spool: byte-exact round trips, recovery of torn and corrupt files, and commit under injected
// write/fdatasync/rename/fsync failures (nothing may be left behind). Real files, real fsync.
#include "queue/spool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <vector>

#include "queue/queue_id.hpp"
#include "test_support.hpp"

namespace sealpost::queue {
namespace {

using sealpost::testing::list_dir;
using sealpost::testing::QuietLogs;
using sealpost::testing::read_file;
using sealpost::testing::TempDir;
using sealpost::testing::write_file;

enum class Op { kOpenNew, kWrite, kFdatasync, kClose, kRename, kFsyncDir };

// Passes everything to the real file system, except that the Nth call of one operation
// fails with a chosen errno (and, like a real failure, does not happen).
class FaultyFileSystem : public FileSystem {
 public:
  void fail(Op op, int nth, int error) {
    op_ = op;
    nth_ = nth;
    error_ = error;
    count_ = 0;
  }
  void disarm() { nth_ = 0; }

  int open_new(const std::filesystem::path& path, int* fd) override {
    return should_fail(Op::kOpenNew) ? error_ : real().open_new(path, fd);
  }
  int write_all(int fd, std::string_view data) override {
    return should_fail(Op::kWrite) ? error_ : real().write_all(fd, data);
  }
  int fdatasync(int fd) override {
    return should_fail(Op::kFdatasync) ? error_ : real().fdatasync(fd);
  }
  int close(int fd) override {
    if (should_fail(Op::kClose)) {
      real().close(fd);  // close(2) releases the descriptor even when it reports an error
      return error_;
    }
    return real().close(fd);
  }
  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    return should_fail(Op::kRename) ? error_ : real().rename(from, to);
  }
  int fsync_dir(const std::filesystem::path& dir) override {
    return should_fail(Op::kFsyncDir) ? error_ : real().fsync_dir(dir);
  }
  int unlink(const std::filesystem::path& path) override { return real().unlink(path); }

 private:
  static FileSystem& real() { return real_file_system(); }
  bool should_fail(Op op) { return nth_ > 0 && op == op_ && ++count_ == nth_; }

  Op op_ = Op::kWrite;
  int nth_ = 0;
  int error_ = 0;
  int count_ = 0;
};

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

CommitResult commit_one(Spool& spool, const std::string& id, const std::string& content) {
  const std::size_t split = std::min<std::size_t>(10, content.size());
  const std::string_view parts[] = {std::string_view(content).substr(0, split),
                                    std::string_view(content).substr(split)};
  return spool.commit(id, sample_envelope(), parts);
}

TEST(Spool, CreatesPrivateDirectories) {
  TempDir temp;
  Spool spool(temp.path() / "state" / "spool");
  for (const char* sub : {"", "tmp", "queue"}) {
    const auto status = std::filesystem::status(temp.path() / "state" / "spool" / sub);
    EXPECT_TRUE(std::filesystem::is_directory(status));
    EXPECT_EQ(status.permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_all);
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
  EXPECT_TRUE(list_dir(temp.path() / "tmp").empty());
  EXPECT_EQ(read_file(temp.path() / "queue" / id).substr(0, 12), "SEALPOST-Q1\n");
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

TEST(Spool, RejectsBadIdsAndEmptyEnvelope) {
  TempDir temp;
  Spool spool(temp.path());
  QuietLogs quiet;
  EXPECT_EQ(spool.commit("../escape", sample_envelope(), {}).error, EINVAL);
  EXPECT_EQ(spool.commit(make_queue_id(), Envelope{"a@b", {}, false, false}, {}).error, EINVAL);
  EXPECT_FALSE(spool.load("../../etc/passwd").has_value());
  EXPECT_FALSE(spool.load(make_queue_id()).has_value());  // missing
  EXPECT_EQ(spool.remove("nope"), EINVAL);
}

TEST(Spool, RemoveDeletesCommittedMessage) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string id = make_queue_id();
  ASSERT_TRUE(commit_one(spool, id, "hello").ok());
  EXPECT_EQ(spool.remove(id), 0);
  EXPECT_TRUE(list_dir(temp.path() / "queue").empty());
  EXPECT_EQ(spool.remove(id), ENOENT);
}

TEST(Spool, RecoverDropsTmpLeftoversAndListsOldestFirst) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string first = make_queue_id();
  const std::string second = make_queue_id();
  ASSERT_TRUE(commit_one(spool, second, "two").ok());
  ASSERT_TRUE(commit_one(spool, first, "one").ok());
  write_file(temp.path() / "tmp" / make_queue_id(), "SEALPOST-Q1\n\x01partial");

  QuietLogs quiet;
  EXPECT_EQ(spool.recover(), (std::vector<std::string>{first, second}));
  EXPECT_TRUE(list_dir(temp.path() / "tmp").empty());
}

TEST(Spool, TornFileIsNeverLoadedAndIsQuarantined) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string good = make_queue_id();
  ASSERT_TRUE(commit_one(spool, good, binary_content()).ok());
  const std::string whole = read_file(temp.path() / "queue" / good);

  QuietLogs quiet;
  std::vector<std::string> torn_ids;
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    const std::string id = make_queue_id();
    write_file(temp.path() / "queue" / id, whole.substr(0, cut));
    ASSERT_FALSE(spool.load(id).has_value()) << "loaded a file cut at " << cut;
    torn_ids.push_back(id);
  }
  // An appended byte (a torn rewrite, or junk) is also rejected.
  const std::string longer = make_queue_id();
  write_file(temp.path() / "queue" / longer, whole + "x");
  EXPECT_FALSE(spool.load(longer).has_value());

  EXPECT_EQ(spool.recover(), std::vector<std::string>{good});
  EXPECT_EQ(list_dir(temp.path() / "queue"), std::vector<std::string>{good});
  EXPECT_EQ(list_dir(temp.path() / "corrupt").size(), torn_ids.size() + 1);
}

TEST(Spool, EveryBitFlipIsDetected) {
  TempDir temp;
  Spool spool(temp.path());
  const std::string good = make_queue_id();
  ASSERT_TRUE(commit_one(spool, good, binary_content()).ok());
  const std::string whole = read_file(temp.path() / "queue" / good);

  QuietLogs quiet;
  const std::string id = make_queue_id();
  for (std::size_t byte = 0; byte < whole.size(); ++byte) {
    for (int bit = 0; bit < 8; bit += 3) {
      std::string flipped = whole;
      flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
      write_file(temp.path() / "queue" / id, flipped);
      ASSERT_FALSE(spool.load(id).has_value()) << "byte " << byte << " bit " << bit;
    }
  }
  EXPECT_EQ(spool.recover(), std::vector<std::string>{good});
  EXPECT_EQ(list_dir(temp.path() / "corrupt"), std::vector<std::string>{id});
}

TEST(Spool, StrayFileInQueueIsQuarantined) {
  TempDir temp;
  Spool spool(temp.path());
  write_file(temp.path() / "queue" / "not-a-queue-id", "hello");
  QuietLogs quiet;
  EXPECT_TRUE(spool.recover().empty());
  EXPECT_EQ(list_dir(temp.path() / "corrupt"), std::vector<std::string>{"not-a-queue-id"});
}

struct Fault {
  Op op;
  int nth;
};

TEST(Spool, FailedCommitLeavesNothingBehind) {
  // commit_one writes head, two parts and the end record: four write_all calls.
  const std::vector<Fault> faults = {
      {Op::kOpenNew, 1},   {Op::kWrite, 1}, {Op::kWrite, 2},  {Op::kWrite, 3},    {Op::kWrite, 4},
      {Op::kFdatasync, 1}, {Op::kClose, 1}, {Op::kRename, 1}, {Op::kFsyncDir, 1},
  };
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty);
  const std::string content = binary_content();
  QuietLogs quiet;
  for (int error : {ENOSPC, EIO}) {
    for (const Fault& fault : faults) {
      SCOPED_TRACE("op " + std::to_string(static_cast<int>(fault.op)) + " call " +
                   std::to_string(fault.nth) + " errno " + std::to_string(error));
      faulty.fail(fault.op, fault.nth, error);
      const std::string id = make_queue_id();
      const CommitResult result = commit_one(spool, id, content);
      EXPECT_EQ(result.error, error);
      EXPECT_FALSE(result.what.empty());
      EXPECT_TRUE(list_dir(temp.path() / "tmp").empty());
      EXPECT_TRUE(list_dir(temp.path() / "queue").empty());
      EXPECT_FALSE(spool.load(id).has_value());

      faulty.disarm();
      const std::string next = make_queue_id();
      ASSERT_TRUE(commit_one(spool, next, content).ok());
      const auto loaded = spool.load(next);
      ASSERT_TRUE(loaded.has_value());
      EXPECT_EQ(loaded->content, content);
      ASSERT_EQ(spool.remove(next), 0);
    }
  }
}

TEST(Spool, FailureMessageNamesTheStep) {
  TempDir temp;
  FaultyFileSystem faulty;
  Spool spool(temp.path(), faulty);
  faulty.fail(Op::kWrite, 2, ENOSPC);
  const std::string id = make_queue_id();
  const CommitResult result = commit_one(spool, id, "body");
  EXPECT_EQ(result.what, "write tmp/" + id + ": No space left on device");
}

}  // namespace
}  // namespace sealpost::queue
