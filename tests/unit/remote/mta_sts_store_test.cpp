// MtaStsStore: policies survive a restart through one file per domain; expired, garbled or
// unsafe entries are never used, and a name can never leave the directory.
#include "delivery/remote/mta_sts_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace sealpost::delivery::remote {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Mode = tls::MtaStsPolicy::Mode;

class MtaStsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mta-sts-store-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static tls::MtaStsEntry entry(std::chrono::system_clock::time_point expires) {
    return {"20240101", tls::MtaStsPolicy{Mode::kEnforce, {"mx.a.test", "*.b.test"}, 86400},
            std::chrono::time_point_cast<std::chrono::seconds>(expires)};
  }

  fs::path dir_;
};

TEST_F(MtaStsStoreTest, RoundTrip) {
  MtaStsStore store(dir_.string());
  auto now = std::chrono::system_clock::now();
  store.save("a.test", entry(now + 1h));
  auto back = store.load("a.test", now);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "20240101");
  EXPECT_EQ(back->policy.mode, Mode::kEnforce);
  EXPECT_EQ(back->policy.mx, (std::vector<std::string>{"mx.a.test", "*.b.test"}));
  EXPECT_EQ(back->policy.max_age, 86400u);
  EXPECT_EQ(back->expires, entry(now + 1h).expires);
  EXPECT_FALSE(store.load("b.test", now));
}

TEST_F(MtaStsStoreTest, ExpiredAndGarbledAreDropped) {
  MtaStsStore store(dir_.string());
  auto now = std::chrono::system_clock::now();
  store.save("old.test", entry(now + 10s));
  EXPECT_FALSE(store.load("old.test", now + 11s));
  EXPECT_FALSE(fs::exists(dir_ / "old.test")) << "an expired policy is removed";
  std::ofstream(dir_ / "bad.test") << "sealpost-mta-sts 1 id 99999999999\nversion: STSv2\r\n";
  EXPECT_FALSE(store.load("bad.test", now));
  std::ofstream(dir_ / "junk.test") << "something else\n";
  EXPECT_FALSE(store.load("junk.test", now));
  store.save("far.test", entry(now + std::chrono::seconds(tls::kMtaStsMaxAge) + 1h));
  EXPECT_FALSE(store.load("far.test", now)) << "longer than any max_age: not believed";
}

TEST_F(MtaStsStoreTest, UnsafeNamesAndNoDirectory) {
  MtaStsStore store(dir_.string());
  auto now = std::chrono::system_clock::now();
  for (const char* name : {"../escape.test", ".hidden", "a/b.test", "UPPER.test", ""}) {
    store.save(name, entry(now + 1h));
    EXPECT_FALSE(store.load(name, now)) << name;
  }
  EXPECT_FALSE(fs::exists(dir_.parent_path() / "escape.test"));
  MtaStsStore none("");
  none.save("a.test", entry(now + 1h));
  EXPECT_FALSE(none.load("a.test", now));
}

TEST_F(MtaStsStoreTest, ConcurrentSavesLeaveOneGoodFile) {
  MtaStsStore store(dir_.string());
  auto now = std::chrono::system_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) store.save("a.test", entry(now + 1h));
    });
  for (auto& th : threads) th.join();
  EXPECT_TRUE(store.load("a.test", now));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}), 1)
      << "no temporary file left behind";
}

}  // namespace
}  // namespace sealpost::delivery::remote
