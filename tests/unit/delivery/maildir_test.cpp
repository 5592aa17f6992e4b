// Maildir delivery: byte-exact files in new/, idempotent repeats (new/ and cur/), leftovers
// from a crashed attempt, and how an impossible path is reported.
#include "delivery/maildir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "queue/queue_id.hpp"
#include "test_support.hpp"

namespace sealpost::delivery {
namespace {

using sealpost::testing::list_dir;
using sealpost::testing::QuietLogs;
using sealpost::testing::read_file;
using sealpost::testing::TempDir;
using sealpost::testing::write_file;

std::string binary_content() {
  std::string content = "Subject: x\r\n\r\nbody\r\nbare\rcr\n";
  content.push_back('\0');
  content += "\xff\x80\xc3\xa9\r\n";
  return content;
}

TEST(Maildir, FileNameIsDeterministicAndSafe) {
  const std::string id = queue::make_queue_id();
  const std::string name = Maildir::file_name(id, 3);
  EXPECT_EQ(name, Maildir::file_name(id, 3));
  EXPECT_NE(name, Maildir::file_name(id, 4));
  const std::string secs = std::to_string(*queue::queue_id_micros(id) / 1'000'000);
  EXPECT_TRUE(name.starts_with(secs + ".Q" + id + "R3.")) << name;
  EXPECT_EQ(name.find('/'), std::string::npos);
  EXPECT_EQ(name.find(':'), std::string::npos);
}

TEST(Maildir, DeliversByteExactIntoNew) {
  TempDir temp;
  const auto root = temp.path() / "alice";
  Maildir maildir(root);
  const std::string id = queue::make_queue_id();
  const std::string content = binary_content();
  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 0, content)));

  const std::string name = Maildir::file_name(id, 0);
  EXPECT_EQ(list_dir(root / "new"), std::vector<std::string>{name});
  EXPECT_EQ(read_file(root / "new" / name), content);
  EXPECT_TRUE(list_dir(root / "tmp").empty());
  EXPECT_TRUE(list_dir(root / "cur").empty());
  for (const char* sub : {"", "tmp", "new", "cur"}) {
    const auto perms = std::filesystem::status(root / sub).permissions();
    EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_all) << sub;
  }
}

TEST(Maildir, CreatesMissingParents) {
  TempDir temp;
  Maildir maildir(temp.path() / "mail" / "example.org" / "alice");
  EXPECT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(queue::make_queue_id(), 0, "x")));
}

TEST(Maildir, RepeatedDeliveryIsDetected) {
  TempDir temp;
  Maildir maildir(temp.path());
  const std::string id = queue::make_queue_id();
  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 0, "first")));
  // A retry after a crash: same id and index, no second copy, the first one untouched.
  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 0, "first")));
  const std::string name = Maildir::file_name(id, 0);
  EXPECT_EQ(list_dir(temp.path() / "new"), std::vector<std::string>{name});
  EXPECT_EQ(read_file(temp.path() / "new" / name), "first");
  // Another recipient index of the same message is a different delivery.
  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 1, "first")));
  EXPECT_EQ(list_dir(temp.path() / "new").size(), 2u);
}

TEST(Maildir, MessageAlreadyReadIntoCurIsNotDeliveredAgain) {
  TempDir temp;
  Maildir maildir(temp.path());
  for (const char* suffix : {"", ":2,", ":2,S", ":2,FRS"}) {
    const std::string id = queue::make_queue_id();
    ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 0, "m")));
    const std::string name = Maildir::file_name(id, 0);
    // What a mail reader does when the message is seen: move it to cur/ with flags.
    std::filesystem::rename(temp.path() / "new" / name, temp.path() / "cur" / (name + suffix));
    ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 0, "m")));
    EXPECT_TRUE(list_dir(temp.path() / "new").empty()) << suffix;
  }
}

TEST(Maildir, LeftoverInTmpFromCrashedAttemptIsReplaced) {
  TempDir temp;
  Maildir maildir(temp.path());
  const std::string id = queue::make_queue_id();
  const std::string name = Maildir::file_name(id, 2);
  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(queue::make_queue_id(), 0, "")));
  write_file(temp.path() / "tmp" / name, "half a mess");

  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(id, 2, "whole message")));
  EXPECT_EQ(read_file(temp.path() / "new" / name), "whole message");
  EXPECT_TRUE(list_dir(temp.path() / "tmp").empty());
}

TEST(Maildir, PathBlockedByAFileIsATemporaryConfigError) {
  TempDir temp;
  write_file(temp.path() / "blocker", "not a directory");
  Maildir maildir(temp.path() / "blocker" / "alice");
  const Outcome outcome = maildir.deliver(queue::make_queue_id(), 0, "x");
  ASSERT_TRUE(std::holds_alternative<TempFail>(outcome));
  EXPECT_TRUE(std::get<TempFail>(outcome).reply.starts_with("451 4.3.5"))
      << std::get<TempFail>(outcome).reply;
}

TEST(Maildir, UnwritableMaildirIsTemporary) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir temp;
  Maildir maildir(temp.path());
  ASSERT_TRUE(std::holds_alternative<Delivered>(maildir.deliver(queue::make_queue_id(), 0, "x")));
  std::filesystem::permissions(
      temp.path() / "tmp", std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  const Outcome outcome = maildir.deliver(queue::make_queue_id(), 0, "y");
  std::filesystem::permissions(temp.path() / "tmp", std::filesystem::perms::owner_all);
  ASSERT_TRUE(std::holds_alternative<TempFail>(outcome));
  EXPECT_TRUE(std::get<TempFail>(outcome).reply.starts_with("451 "))
      << std::get<TempFail>(outcome).reply;
}

TEST(Maildir, InvalidQueueIdIsRefused) {
  TempDir temp;
  Maildir maildir(temp.path());
  QuietLogs quiet;
  EXPECT_TRUE(std::holds_alternative<PermFail>(maildir.deliver("../../x", 0, "x")));
}

}  // namespace
}  // namespace sealpost::delivery
