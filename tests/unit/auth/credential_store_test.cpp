// Tests for credential_store: loading, lookups (domain case-insensitive), refresh pacing and
// change detection with a fake clock, last-good snapshots, and the MAIL FROM / authzid policy.
#include "auth/credential_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <optional>
#include <thread>

#include "auth/demo_user.hpp"
#include "auth/password_hash.hpp"
#include "test_util.hpp"

namespace sealpost::auth {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using test::FakeClock;
using test::spit;
using test::TempDir;

constexpr std::string_view kHash =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$rPeawue/nS.5CE6nTU9GpACAbn46u5ZGm.W6wf1Q.RD";
const std::string kCert(64, 'c');

std::string line(std::string_view name, std::string_view rest = "") {
  std::string out = std::string(name) + " " + std::string(kHash) + " -";
  if (!rest.empty()) out += " " + std::string(rest);
  return out + "\n";
}

User parsed(const std::string& text) {
  auto user = parse_user_line(text.substr(0, text.size() - 1));  // without the newline
  EXPECT_TRUE(user.has_value()) << user.error();
  return user.value_or(User{});
}

TEST(CredentialStore, LoadsAndLooksUp) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  spit(path, "# test\n" +
                 line("alice@Example.org", "alias=Sales@example.org cert=sha256:" + kCert) +
                 "bad\n" + line("bob"));
  CredentialStore store(path);
  store.load();
  EXPECT_EQ(store.users()->size(), 2u);
  auto alice = store.lookup("alice@EXAMPLE.ORG");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->name, "alice@Example.org");
  EXPECT_FALSE(store.lookup("Alice@example.org"));  // local parts keep their case
  EXPECT_TRUE(store.lookup("bob"));
  EXPECT_FALSE(store.lookup("carol"));
  auto by_cert = store.user_for_certificate("sha256:" + std::string(64, 'C'));
  ASSERT_TRUE(by_cert);
  EXPECT_EQ(by_cert->name, "alice@Example.org");
  EXPECT_FALSE(store.user_for_certificate(std::string(64, 'd')));
}

TEST(CredentialStore, MissingFileAtLoadThrows) {
  TempDir dir;
  CredentialStore store(dir.path() / "absent");
  EXPECT_THROW(store.load(), CredentialError);
}

TEST(CredentialStore, RefreshPicksUpChangesAtMostOncePerSecond) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  spit(path, line("alice@example.org"));
  FakeClock clock;
  CredentialStore store(path, clock.fn());
  store.load();
  auto old_alice = store.lookup("alice@example.org");

  // Rewritten the way `sealpost user` does it: a new inode via rename.
  write_file_atomically(path, line("alice@example.org") + line("bob@example.org"));
  EXPECT_FALSE(store.refresh());  // within a second of load(): not even a stat
  EXPECT_FALSE(store.lookup("bob@example.org"));
  clock.advance(1s);
  EXPECT_TRUE(store.refresh());
  EXPECT_TRUE(store.lookup("bob@example.org"));
  clock.advance(1s);
  EXPECT_FALSE(store.refresh());  // unchanged

  // An in-place edit of the same size is seen through mtime/ctime.
  std::string text = line("alice@example.org") + line("bob@example.org");
  text.replace(text.find("bob"), 3, "rob");
  auto mtime = fs::last_write_time(path);
  spit(path, text);
  fs::last_write_time(path, mtime + 1s);  // timestamps are coarser than this test is fast
  clock.advance(1s);
  EXPECT_TRUE(store.refresh());
  EXPECT_TRUE(store.lookup("rob@example.org"));

  // The old user object stays valid for whoever still holds it.
  EXPECT_EQ(old_alice->name, "alice@example.org");
}

TEST(CredentialStore, KeepsTheLastGoodSnapshotWhenTheFileVanishes) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  spit(path, line("alice@example.org"));
  FakeClock clock;
  CredentialStore store(path, clock.fn());
  store.load();
  fs::remove(path);
  clock.advance(2s);
  EXPECT_FALSE(store.refresh());
  EXPECT_TRUE(store.lookup("alice@example.org"));
  spit(path, line("bob@example.org"));
  clock.advance(2s);
  EXPECT_TRUE(store.refresh());
  EXPECT_FALSE(store.lookup("alice@example.org"));
  EXPECT_TRUE(store.lookup("bob@example.org"));
}

TEST(CredentialStore, ConcurrentLookupsDuringReloads) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  spit(path, line("alice@example.org"));
  std::atomic<std::int64_t> ticks{0};
  CredentialStore store(path, [&] {
    return std::chrono::steady_clock::time_point(std::chrono::seconds(ticks.fetch_add(1)));
  });
  store.load();
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        store.refresh();
        auto alice = store.lookup("alice@example.org");
        ASSERT_TRUE(alice);  // present in every version of the file
        EXPECT_EQ(alice->name, "alice@example.org");
      }
    });
  }
  for (int i = 0; i < 50; ++i) {
    write_file_atomically(path, line("alice@example.org") + line("u" + std::to_string(i)));
  }
  stop = true;
  for (std::thread& t : readers) t.join();
}

TEST(CredentialStore, MaySendAs) {
  User u = parsed(line("alice@Example.org", "alias=sales@example.org,Team@Lists.org"));
  EXPECT_TRUE(may_send_as(u, "alice@Example.org"));
  EXPECT_TRUE(may_send_as(u, "alice@EXAMPLE.ORG"));
  EXPECT_TRUE(may_send_as(u, "sales@example.org"));
  EXPECT_TRUE(may_send_as(u, "Team@lists.org"));
  EXPECT_FALSE(may_send_as(u, "team@lists.org"));  // local part as configured
  EXPECT_FALSE(may_send_as(u, "bob@example.org"));
  EXPECT_FALSE(may_send_as(u, ""));
  User plain = parsed(line("alice"));
  EXPECT_FALSE(may_send_as(plain, "alice"));  // a bare login is not an address
  EXPECT_FALSE(may_send_as(plain, "alice@example.org"));
}

TEST(CredentialStore, MayActAs) {
  User alice = parsed(line("alice@example.org"));
  EXPECT_TRUE(may_act_as(alice, ""));
  EXPECT_TRUE(may_act_as(alice, "alice@EXAMPLE.org"));
  EXPECT_FALSE(may_act_as(alice, "bob@example.org"));
  User admin = parsed(line("admin@example.org", "authz=*"));
  EXPECT_TRUE(may_act_as(admin, "bob@example.org"));
}

TEST(DemoUser, CreatedOnceWithAWorkingPassword) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  std::optional<std::string> password = ensure_demo_user(path, 4096);
  ASSERT_TRUE(password.has_value());
  EXPECT_EQ(password->size(), 16u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  CredentialStore store(path);
  store.load();
  auto demo = store.lookup("demo@localhost");
  ASSERT_TRUE(demo);
  EXPECT_TRUE(verify_password(*password, demo->password_hash));
  ASSERT_TRUE(demo->scram.has_value());
  EXPECT_EQ(demo->scram->iterations, 4096u);
  EXPECT_FALSE(ensure_demo_user(path, 4096).has_value());  // exists: untouched
  EXPECT_NE(random_password(), random_password());
}

}  // namespace
}  // namespace sealpost::auth
