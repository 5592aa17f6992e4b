// ConnectionCache on its own: keys (every field of the TLS requirement counts), take/keep,
// newest first, idle and age expiry, the transaction and size limits, reuse turned off. The
// connections here were never connected: closing one is instant and sends nothing.
#include "delivery/remote/connection_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sealpost::delivery::remote {
namespace {

using std::chrono::seconds;
using Clock = ConnectionCache::Clock;

// Far enough ahead that the cache's own reaper (on the real clock) never gets there first.
const Clock::time_point kT0 = Clock::now() + std::chrono::hours(1);

tls::Requirement dane_requirement() {
  tls::Requirement r;
  r.policy = tls::PolicyKind::kDane;
  r.tls_required = true;
  r.verification = tls::Verification::kDane;
  r.reference_name = "mx.example.org";
  r.tlsa = {tls::Tlsa{3, 1, 1, {1, 2, 3}}};
  return r;
}

ConnectionKey key(const tls::Requirement& r = dane_requirement(),
                  std::string address = "192.0.2.1") {
  return connection_key("mx.example.org", std::move(address), 25, r);
}

// An idle session (greeting and EHLO done) on a connection that never connected.
std::unique_ptr<KeptConnection> kept(std::string tag, Clock::time_point created = kT0) {
  auto c = std::make_unique<KeptConnection>();
  c->conn = std::make_unique<net::ClientConnection>();
  c->session = std::make_unique<smtp::ClientSession>(smtp::ClientSettings{});
  c->session->receive("220 mx ESMTP\r\n");
  c->session->receive("250 mx\r\n");
  c->session->take_output();
  c->reason = std::move(tag);
  c->created = created;
  c->transactions = 1;
  return c;
}

ConnectionCacheLimits limits(seconds idle = seconds(60)) {
  ConnectionCacheLimits l;
  l.idle_time = idle;
  l.max_age = seconds(300);
  l.max_transactions = 3;
  l.max_idle = 4;
  return l;
}

TEST(ConnectionKey, EveryPartOfTheRequirementCounts) {
  const ConnectionKey base = key();
  EXPECT_EQ(base, key());
  std::vector<tls::Requirement> others(7, dane_requirement());
  others[0].policy = tls::PolicyKind::kMtaSts;
  others[1].tls_required = false;
  others[2].verification = tls::Verification::kPkix;
  others[3].reference_name = "other.example.org";
  others[4].tlsa = {tls::Tlsa{3, 1, 1, {9, 9, 9}}};
  others[5].tlsa.push_back(tls::Tlsa{2, 0, 1, {4}});
  others[6].attempt_tls = false;
  for (std::size_t i = 0; i < others.size(); ++i) EXPECT_NE(key(others[i]), base) << i;
  EXPECT_NE(key(dane_requirement(), "192.0.2.2"), base);
  ConnectionKey port = base;
  port.port = 2525;
  EXPECT_NE(port, base);
  ConnectionKey implicit = base;
  implicit.implicit_tls = true;
  EXPECT_NE(implicit, base);
  ConnectionKey user = base;
  user.authenticated = true;
  user.auth_identity = "relay";
  EXPECT_NE(user, base);
  // The log text of the decision is not part of the terms.
  tls::Requirement worded = dane_requirement();
  worded.reason = "another wording";
  EXPECT_EQ(key(worded), base);
}

TEST(ConnectionCache, TakesWhatWasKeptUnderTheSameKeyOnly) {
  ConnectionCache cache(limits());
  EXPECT_TRUE(cache.enabled());
  EXPECT_EQ(cache.take(key(), kT0), nullptr);
  cache.keep(key(), kept("a"), kT0);
  EXPECT_EQ(cache.size(), 1u);
  tls::Requirement weaker = dane_requirement();
  weaker.verification = tls::Verification::kNone;
  weaker.tlsa.clear();
  EXPECT_EQ(cache.take(key(weaker), kT0 + seconds(1)), nullptr);
  EXPECT_EQ(cache.take(key(dane_requirement(), "192.0.2.9"), kT0 + seconds(1)), nullptr);
  EXPECT_EQ(cache.size(), 1u);
  auto c = cache.take(key(), kT0 + seconds(1));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "a");
  EXPECT_EQ(c->idle_since, kT0);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.take(key(), kT0 + seconds(1)), nullptr);  // one owner at a time
}

TEST(ConnectionCache, NewestFirst) {
  ConnectionCache cache(limits());
  cache.keep(key(), kept("old"), kT0);
  cache.keep(key(), kept("new"), kT0 + seconds(1));
  EXPECT_EQ(cache.take(key(), kT0 + seconds(2))->reason, "new");
  EXPECT_EQ(cache.take(key(), kT0 + seconds(2))->reason, "old");
}

TEST(ConnectionCache, IdleTimeLimit) {
  ConnectionCache cache(limits(seconds(2)));
  cache.keep(key(), kept("a"), kT0);
  EXPECT_EQ(cache.close_expired(kT0 + seconds(1)), 0u);
  EXPECT_EQ(cache.take(key(), kT0 + seconds(2)), nullptr);  // expired: closed, not handed out
  EXPECT_EQ(cache.size(), 0u);
  cache.keep(key(), kept("b"), kT0);
  cache.keep(key(dane_requirement(), "192.0.2.2"), kept("c"), kT0 + seconds(1));
  EXPECT_EQ(cache.close_expired(kT0 + seconds(2)), 1u);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.close_expired(kT0 + seconds(3)), 1u);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ConnectionCache, AgeLimit) {
  ConnectionCache cache(limits());
  // Made 299 s ago: kept, but gone a second later although its idle time has not run out.
  cache.keep(key(), kept("a", kT0 - seconds(299)), kT0);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.take(key(), kT0 + seconds(1)), nullptr);
  // Already too old: not kept at all.
  cache.keep(key(), kept("b", kT0 - seconds(300)), kT0);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ConnectionCache, TransactionLimit) {
  ConnectionCache cache(limits());
  auto c = kept("a");
  c->transactions = 3;
  cache.keep(key(), std::move(c), kT0);
  EXPECT_EQ(cache.size(), 0u);
  cache.keep(key(), kept("b"), kT0);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(ConnectionCache, FullCacheClosesTheOldest) {
  ConnectionCache cache(limits());
  for (int i = 0; i < 5; ++i)
    cache.keep(key(dane_requirement(), "192.0.2." + std::to_string(i)), kept(std::to_string(i)),
               kT0 + seconds(i));
  EXPECT_EQ(cache.size(), 4u);
  EXPECT_EQ(cache.take(key(dane_requirement(), "192.0.2.0"), kT0 + seconds(5)), nullptr);
  EXPECT_EQ(cache.take(key(dane_requirement(), "192.0.2.4"), kT0 + seconds(5))->reason, "4");
}

TEST(ConnectionCache, OnlyIdleSessionsAreKept) {
  ConnectionCache cache(limits());
  auto c = kept("a");
  c->session->quit();  // QUIT asked for: not idle
  cache.keep(key(), std::move(c), kT0);
  auto fresh = std::make_unique<KeptConnection>();
  fresh->conn = std::make_unique<net::ClientConnection>();
  fresh->session = std::make_unique<smtp::ClientSession>(smtp::ClientSettings{});  // no greeting
  fresh->created = kT0;
  cache.keep(key(), std::move(fresh), kT0);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ConnectionCache, ZeroIdleTimeTurnsReuseOff) {
  ConnectionCache cache(limits(seconds(0)));
  EXPECT_FALSE(cache.enabled());
  cache.keep(key(), kept("a"), kT0);
  EXPECT_EQ(cache.size(), 0u);
  ConnectionCacheLimits none = limits();
  none.max_idle = 0;
  EXPECT_FALSE(ConnectionCache(none).enabled());
}

TEST(ConnectionCache, ReaperClosesOnTheRealClock) {
  ConnectionCache cache(limits(seconds(1)));
  cache.keep(key(), kept("a", Clock::now()), Clock::now());
  EXPECT_EQ(cache.size(), 1u);
  auto until = Clock::now() + seconds(10);
  while (cache.size() != 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(ConnectionCache, ConcurrentKeepAndTake) {
  ConnectionCache cache(limits());
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ConnectionKey k = key(dane_requirement(), "192.0.2." + std::to_string(t % 2));
      for (int i = 0; i < 200; ++i) {
        cache.keep(k, kept("x"), kT0);
        if (cache.take(k, kT0)) ++taken;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(cache.size(), 4u);
  EXPECT_GT(taken.load(), 0);
}

}  // namespace
}  // namespace sealpost::delivery::remote
