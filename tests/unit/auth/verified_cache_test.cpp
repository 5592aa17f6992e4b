#include "auth/verified_cache.hpp"

#include <gtest/gtest.h>

#include <string>

using sealpost::auth::VerifiedCache;
using namespace std::chrono_literals;

namespace {

const VerifiedCache::Clock::time_point t0{};

TEST(VerifiedCache, HitsOnlyTheExactTripleWithinTtl) {
  VerifiedCache cache({.ttl = 300s, .max_entries = 16}, "key");
  cache.insert("alice", "s3cret", "$y$hash1", t0);
  EXPECT_TRUE(cache.contains("alice", "s3cret", "$y$hash1", t0 + 299s));
  EXPECT_FALSE(cache.contains("alice", "s3cret", "$y$hash1", t0 + 300s)) << "expired";
  EXPECT_FALSE(cache.contains("alice", "wrong", "$y$hash1", t0 + 1s));
  EXPECT_FALSE(cache.contains("bob", "s3cret", "$y$hash1", t0 + 1s));
  EXPECT_FALSE(cache.contains("alice", "s3cret", "$y$hash2", t0 + 1s)) << "password changed";
}

TEST(VerifiedCache, FieldBoundariesMatter) {
  VerifiedCache cache({.ttl = 300s, .max_entries = 16}, "key");
  cache.insert("ab", "c", "h", t0);
  EXPECT_FALSE(cache.contains("a", "bc", "h", t0));
  EXPECT_FALSE(cache.contains("abc", "", "h", t0));
}

TEST(VerifiedCache, BoundedOldestFirst) {
  VerifiedCache cache({.ttl = 300s, .max_entries = 3}, "key");
  for (int i = 0; i < 5; ++i) cache.insert("u" + std::to_string(i), "p", "h", t0 + i * 1s);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.contains("u0", "p", "h", t0 + 10s));
  EXPECT_FALSE(cache.contains("u1", "p", "h", t0 + 10s));
  EXPECT_TRUE(cache.contains("u4", "p", "h", t0 + 10s));
}

TEST(VerifiedCache, RefreshKeepsEntryPastItsFirstExpiry) {
  VerifiedCache cache({.ttl = 10s, .max_entries = 2}, "key");
  cache.insert("alice", "p", "h", t0);
  cache.insert("alice", "p", "h", t0 + 8s);  // stale queue entry for t0 remains
  cache.insert("bob", "p", "h", t0 + 11s);   // drops the stale entry, keeps the refreshed one
  EXPECT_TRUE(cache.contains("alice", "p", "h", t0 + 17s));
  EXPECT_TRUE(cache.contains("bob", "p", "h", t0 + 17s));
}

TEST(VerifiedCache, DisabledWithZeroTtl) {
  VerifiedCache cache({.ttl = 0s, .max_entries = 16}, "key");
  cache.insert("alice", "p", "h", t0);
  EXPECT_FALSE(cache.contains("alice", "p", "h", t0));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(VerifiedCache, RandomKeysDiffer) {
  VerifiedCache a({.ttl = 300s, .max_entries = 16});
  VerifiedCache b({.ttl = 300s, .max_entries = 16});
  a.insert("alice", "p", "h", t0);
  EXPECT_TRUE(a.contains("alice", "p", "h", t0));
  EXPECT_FALSE(b.contains("alice", "p", "h", t0));
}

}  // namespace
