// Tests for Throttle with a fake clock: delay growth and cap, lockout and its expiry, decay
// after the window, per-user delays that never touch a correct login, forgiveness on success,
// IPv6 /64 grouping and the memory bound.
#include "auth/throttle.hpp"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <thread>
#include <vector>

#include "test_util.hpp"

namespace sealpost::auth {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using test::FakeClock;

config::AuthThrottle defaults() { return config::AuthThrottle{}; }

TEST(Throttle, DelaysGrowThenCapThenLockout) {
  FakeClock clock;
  Throttle t(defaults(), clock.fn());
  milliseconds want[] = {0ms, 0ms, 0ms, 1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms};
  for (milliseconds w : want) {
    EXPECT_FALSE(t.before_attempt("192.0.2.1", "alice").refuse);
    EXPECT_EQ(t.after_failure("192.0.2.1", "alice"), w);
    clock.advance(10s);
  }
  EXPECT_FALSE(t.before_attempt("192.0.2.1", "alice").refuse);
  t.after_failure("192.0.2.1", "alice");  // the 10th
  Throttle::Verdict v = t.before_attempt("192.0.2.1", "bob");
  EXPECT_TRUE(v.refuse);
  EXPECT_EQ(v.retry_after, 900s);
  // Another address is unaffected: a correct user elsewhere logs in at once.
  EXPECT_FALSE(t.before_attempt("192.0.2.2", "alice").refuse);

  clock.advance(899s);
  EXPECT_TRUE(t.before_attempt("192.0.2.1", "alice").refuse);
  clock.advance(1s);
  EXPECT_FALSE(t.before_attempt("192.0.2.1", "alice").refuse);
  // Still within the window: one more failure locks out again at once.
  t.after_failure("192.0.2.1", "alice");
  EXPECT_TRUE(t.before_attempt("192.0.2.1", "alice").refuse);
}

TEST(Throttle, FailuresDecayAfterTheWindow) {
  FakeClock clock;
  Throttle t(defaults(), clock.fn());
  for (int i = 0; i < 5; ++i) t.after_failure("192.0.2.1", "alice");
  EXPECT_EQ(t.after_failure("192.0.2.1", "alice"), 4000ms);
  clock.advance(3599s);
  EXPECT_EQ(t.after_failure("192.0.2.1", "alice"), 8000ms);  // window restarts at each failure
  clock.advance(3600s);
  EXPECT_EQ(t.after_failure("192.0.2.1", "alice"), 0ms);
}

TEST(Throttle, LockoutOutlastsNothingButItsOwnTime) {
  FakeClock clock;
  config::AuthThrottle s = defaults();
  s.lockout_after = 3;
  s.lockout = 60s;
  Throttle t(s, clock.fn());
  for (int i = 0; i < 3; ++i) t.after_failure("192.0.2.9", "x");
  EXPECT_TRUE(t.before_attempt("192.0.2.9", "x").refuse);
  clock.advance(3600s + 1s);  // lockout over and failures decayed
  EXPECT_FALSE(t.before_attempt("192.0.2.9", "x").refuse);
  t.after_failure("192.0.2.9", "x");
  EXPECT_FALSE(t.before_attempt("192.0.2.9", "x").refuse);
}

TEST(Throttle, PerUserFailuresOnlyDelayFailures) {
  FakeClock clock;
  Throttle t(defaults(), clock.fn());
  // A distributed attack: one failure each from many addresses against alice.
  milliseconds last{0};
  for (int i = 1; i <= 20; ++i) {
    std::string peer = "198.51.100." + std::to_string(i);
    EXPECT_FALSE(t.before_attempt(peer, "alice@example.org").refuse);
    last = t.after_failure(peer, "alice@example.org");
  }
  EXPECT_EQ(last, 8000ms);  // the attackers' failed replies are slow
  // The real alice, from her own address, is neither refused nor delayed (no delay exists for
  // a success), and her own typo is delayed only by the per-user count.
  EXPECT_FALSE(t.before_attempt("203.0.113.7", "alice@example.org").refuse);
  t.after_success("203.0.113.7", "alice@example.org");
  EXPECT_FALSE(t.before_attempt("203.0.113.7", "alice@example.org").refuse);
  // Other users are not slowed by alice's attackers.
  EXPECT_EQ(t.after_failure("203.0.113.8", "bob@example.org"), 0ms);
}

TEST(Throttle, SuccessForgivesOnlyThatUsersFailuresFromThatAddress) {
  FakeClock clock;
  Throttle t(defaults(), clock.fn());
  t.after_failure("192.0.2.1", "alice");
  t.after_failure("192.0.2.1", "alice");
  t.after_failure("192.0.2.1", "mallory-target");
  t.after_success("192.0.2.1", "alice");
  // One failure (for another name) remains: the next two are free, the third delayed.
  EXPECT_EQ(t.after_failure("192.0.2.1", "x"), 0ms);
  EXPECT_EQ(t.after_failure("192.0.2.1", "y"), 0ms);
  EXPECT_EQ(t.after_failure("192.0.2.1", "z"), 1000ms);
}

TEST(Throttle, IPv6IsCountedPerSlash64) {
  EXPECT_EQ(Throttle::address_key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(Throttle::address_key("[2001:db8:1:2:aaaa:bbbb:cccc:dddd]"), "2001:db8:1:2::/64");
  EXPECT_EQ(Throttle::address_key("fe80::1%eth0"), "fe80::/64");
  EXPECT_EQ(Throttle::address_key("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(Throttle::address_key("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(Throttle::address_key("not\nan address"), "not?an address");

  FakeClock clock;
  Throttle t(defaults(), clock.fn());
  for (int i = 0; i < 10; ++i) {
    t.after_failure("2001:db8:1:2::" + std::to_string(i + 1), "u" + std::to_string(i));
  }
  EXPECT_TRUE(t.before_attempt("2001:db8:1:2:ffff::9", "anyone").refuse);
  EXPECT_FALSE(t.before_attempt("2001:db8:1:3::1", "anyone").refuse);
}

TEST(Throttle, MemoryIsBounded) {
  FakeClock clock;
  config::AuthThrottle s = defaults();
  s.lockout_after = 1;
  Throttle t(s, clock.fn(), 100);
  auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::err);  // 1000 lockout warnings are not the point here
  for (int i = 0; i < 1000; ++i) {
    clock.advance(1ms);
    t.after_failure("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256),
                    "user" + std::to_string(i));
  }
  // The newest lockouts survive; the oldest were evicted to make room.
  EXPECT_TRUE(t.before_attempt("10.0.3.231", "x").refuse);  // i = 999
  EXPECT_FALSE(t.before_attempt("10.0.0.0", "x").refuse);   // i = 0
  spdlog::set_level(level);
}

TEST(Throttle, CountsFromManyThreads) {
  FakeClock clock;
  config::AuthThrottle s = defaults();
  s.lockout_after = 400;
  Throttle t(s, clock.fn());
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&t, i] {
      for (int n = 0; n < 100; ++n) {
        t.before_attempt("192.0.2.1", "u" + std::to_string(i));
        t.after_failure("192.0.2.1", "u" + std::to_string(i));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_TRUE(t.before_attempt("192.0.2.1", "x").refuse);  // exactly 400 failures counted
}

TEST(Throttle, ZeroMaxDelayDisablesDelays) {
  FakeClock clock;
  config::AuthThrottle s = defaults();
  s.max_delay = 0s;
  Throttle t(s, clock.fn());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(t.after_failure("192.0.2.1", "a"), 0ms);
}

}  // namespace
}  // namespace sealpost::auth
