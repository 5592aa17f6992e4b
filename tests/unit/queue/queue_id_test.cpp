// Queue ids: unique, valid, sortable by arrival, and carrying their arrival time.
#include "queue/queue_id.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace sealpost::queue {
namespace {

std::uint64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(QueueId, ManyIdsAreUniqueAndValid) {
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) {
    const std::string id = make_queue_id();
    ASSERT_EQ(id.size(), 21u);
    ASSERT_TRUE(is_valid_queue_id(id)) << id;
    ASSERT_TRUE(seen.insert(id).second) << "duplicate " << id;
  }
}

TEST(QueueId, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kPerThread; ++i) ids[t].push_back(make_queue_id());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> seen;
  for (const auto& list : ids) seen.insert(list.begin(), list.end());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(QueueId, TimePrefixNeverGoesBackwards) {
  std::string previous = make_queue_id();
  for (int i = 0; i < 10000; ++i) {
    const std::string id = make_queue_id();
    ASSERT_LE(previous.substr(0, 16), id.substr(0, 16));
    previous = id;
  }
}

TEST(QueueId, MicrosIsArrivalTime) {
  const std::uint64_t before = now_micros();
  const std::string id = make_queue_id();
  const std::uint64_t after = now_micros();
  const auto micros = queue_id_micros(id);
  ASSERT_TRUE(micros.has_value());
  EXPECT_GE(*micros, before);
  EXPECT_LE(*micros, after);
  EXPECT_EQ(queue_id_micros("0006411A2B3C4D5E0F3A1"), 0x0006411A2B3C4D5Eull);
}

TEST(QueueId, RejectsMalformed) {
  EXPECT_TRUE(is_valid_queue_id("0006411A2B3C4D5E0F3A1"));
  EXPECT_FALSE(is_valid_queue_id(""));
  EXPECT_FALSE(is_valid_queue_id("0006411A2B3C4D5E0F3A"));    // short
  EXPECT_FALSE(is_valid_queue_id("0006411A2B3C4D5E0F3A12"));  // long
  EXPECT_FALSE(is_valid_queue_id("0006411a2b3c4d5e0f3a1"));   // lower case
  EXPECT_FALSE(is_valid_queue_id("0006411A2B3C4D5E0F3A/"));   // path separator
  EXPECT_FALSE(is_valid_queue_id("../../../../etc/passwd"));
  EXPECT_FALSE(queue_id_micros("xyz").has_value());
}

}  // namespace
}  // namespace sealpost::queue
