// Percentiles (nearest rank), merging, and the final line's exact shape.
#include "cli/bench/latency_stats.hpp"

#include <gtest/gtest.h>

#include <regex>

namespace sealpost::bench {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(LatencyStats, EmptyIsZero) {
  LatencyStats s;
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.percentile_ms(50), 0);
  EXPECT_EQ(s.percentile_ms(99), 0);
}

TEST(LatencyStats, NearestRank) {
  LatencyStats s;
  for (int i = 100; i >= 1; --i) s.add(milliseconds(i));  // unsorted on purpose
  EXPECT_DOUBLE_EQ(s.percentile_ms(50), 50);
  EXPECT_DOUBLE_EQ(s.percentile_ms(99), 99);
  EXPECT_DOUBLE_EQ(s.percentile_ms(100), 100);
  EXPECT_DOUBLE_EQ(s.percentile_ms(0), 1);
  EXPECT_DOUBLE_EQ(s.max_ms(), 100);
  s.add(milliseconds(1000));  // adding after a percentile re-sorts
  EXPECT_DOUBLE_EQ(s.max_ms(), 1000);
}

TEST(LatencyStats, SmallSamples) {
  LatencyStats s;
  s.add(microseconds(1500));
  EXPECT_DOUBLE_EQ(s.percentile_ms(50), 1.5);
  EXPECT_DOUBLE_EQ(s.percentile_ms(99), 1.5);
  s.add(microseconds(500));
  EXPECT_DOUBLE_EQ(s.percentile_ms(50), 0.5);  // rank ceil(0.5 * 2) = 1
  EXPECT_DOUBLE_EQ(s.percentile_ms(51), 1.5);
}

TEST(LatencyStats, Merge) {
  LatencyStats a, b;
  for (int i = 1; i <= 50; ++i) a.add(milliseconds(i));
  for (int i = 51; i <= 100; ++i) b.add(milliseconds(i));
  b.merge(a);
  EXPECT_EQ(b.count(), 100u);
  EXPECT_DOUBLE_EQ(b.percentile_ms(50), 50);
  EXPECT_DOUBLE_EQ(b.percentile_ms(99), 99);
}

TEST(RunCounters, MergeAddsEverything) {
  RunCounters a, b;
  a.messages = 3;
  a.connections = 2;
  a.fail("RCPT 550");
  b.messages = 4;
  b.resumed = 1;
  b.fail("RCPT 550");
  b.fail("connect: Connection refused");
  b.message_latency.add(milliseconds(2));
  a.merge(b);
  EXPECT_EQ(a.messages, 7u);
  EXPECT_EQ(a.failures, 3u);
  EXPECT_EQ(a.connections, 2u);
  EXPECT_EQ(a.resumed, 1u);
  EXPECT_EQ(a.failure_reasons["RCPT 550"], 2u);
  EXPECT_EQ(a.failure_reasons["connect: Connection refused"], 1u);
  EXPECT_EQ(a.message_latency.count(), 1u);
}

TEST(Summary, FinalLine) {
  Summary s;
  s.elapsed_s = 2;
  s.counters.messages = 1000;
  s.counters.fail("DATA 554");
  for (int i = 1; i <= 100; ++i) s.counters.message_latency.add(microseconds(i * 100));
  s.counters.connect_latency.add(milliseconds(3));
  EXPECT_EQ(format_line(s),
            "messages=1000 failures=1 elapsed=2.000 msgs/s=500.0 p50_ms=5.000 p99_ms=9.900 "
            "conn_p50_ms=3.000");
  std::regex rx(
      R"(messages=\d+ failures=\d+ elapsed=[\d.]+ msgs/s=[\d.]+ p50_ms=[\d.]+ p99_ms=[\d.]+ conn_p50_ms=[\d.]+)");
  EXPECT_TRUE(std::regex_match(format_line(Summary{}), rx)) << format_line(Summary{});
}

TEST(Summary, Json) {
  Summary s;
  s.elapsed_s = 1;
  s.counters.messages = 10;
  s.counters.fail("read: \"odd\"\n");
  std::string j = format_json(s);
  EXPECT_NE(j.find("\"messages\":10,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"failures\":1,"), std::string::npos) << j;
  EXPECT_NE(j.find("\"msgs_per_s\":10.0,"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("failure_reasons":{"read: \"odd\"\n":1})"), std::string::npos) << j;
  EXPECT_EQ(j.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace sealpost::bench
