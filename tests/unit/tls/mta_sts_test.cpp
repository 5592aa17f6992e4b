// RFC 8461 text formats and the policy cache: the TXT record (§3.1), the policy file (§3.2),
// MX patterns (§4.1), and what the cache and next_step() make of ids, expiry and failures.
#include <gtest/gtest.h>

#include <thread>

#include "tls/mta_sts_cache.hpp"
#include "tls/mta_sts_policy.hpp"

namespace sealpost::tls {
namespace {

using Mode = MtaStsPolicy::Mode;
using namespace std::chrono_literals;

TEST(MtaStsRecord, Valid) {
  EXPECT_EQ(parse_mta_sts_record("v=STSv1; id=20160831085700Z;")->id, "20160831085700Z");
  EXPECT_EQ(parse_mta_sts_record("v=STSv1;id=abc")->id, "abc");
  EXPECT_EQ(parse_mta_sts_record("v=STSv1 ;\tid=1 ; ext=x.y ;")->id, "1");
  EXPECT_EQ(parse_mta_sts_record("v=STSv1; id=first; id=second;")->id, "first");
}

TEST(MtaStsRecord, Invalid) {
  for (const char* t : {"", "v=STSv1", "v=STSv1;", "v=STSv1; id=;", "v=STSv1; id=a-b;",
                        "v=STSv1; id=123456789012345678901234567890123;", "v=STSv2; id=1;",
                        "V=STSv1; id=1;", " v=STSv1; id=1;", "v=STSv1 id=1;", "v=STSv1; id=1; bad",
                        "v=STSv1; id=1; =x;", "v=STSv1; id=1; x==;"}) {
    EXPECT_FALSE(parse_mta_sts_record(t)) << t;
  }
}

TEST(MtaStsRecord, SelectExactlyOne) {
  EXPECT_EQ(select_mta_sts_record({"v=spf1 -all", "v=STSv1; id=7;"})->id, "7");
  EXPECT_FALSE(select_mta_sts_record({}));
  EXPECT_FALSE(select_mta_sts_record({"v=spf1 -all"}));
  // §3.1: two STSv1 records: no policy, even if both are valid.
  EXPECT_FALSE(select_mta_sts_record({"v=STSv1; id=1;", "v=STSv1; id=2;"}));
  EXPECT_FALSE(select_mta_sts_record({"v=STSv1; id=1;", "v=STSv1; garbage"}));
  EXPECT_FALSE(select_mta_sts_record({"v=STSv1; id=!;"})) << "the one record is invalid";
  EXPECT_EQ(select_mta_sts_record({"v=STSv10; id=1;", "v=STSv1; id=2;"})->id, "2");
}

TEST(MtaStsPolicyFile, EnforceWithCrlf) {
  std::string error;
  auto p = parse_mta_sts_policy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.Example.org\r\nmx: *.example.net\r\n"
      "max_age: 86400\r\n",
      &error);
  ASSERT_TRUE(p) << error;
  EXPECT_EQ(p->mode, Mode::kEnforce);
  EXPECT_EQ(p->max_age, 86400u);
  EXPECT_EQ(p->mx, (std::vector<std::string>{"mail.example.org", "*.example.net"}));
  EXPECT_TRUE(p->matches("MAIL.example.org."));
  EXPECT_TRUE(p->matches("mx1.example.net"));
  EXPECT_FALSE(p->matches("a.mx1.example.net"));
  EXPECT_FALSE(p->matches("example.net"));
}

TEST(MtaStsPolicyFile, LfUnknownKeysRepeatsAndBlanks) {
  auto p = parse_mta_sts_policy(
      "version: STSv1\nmode:testing\nmode: enforce\nfuture_key: some value\n\nmx: mx.a.test  \n"
      "max_age: 31557600");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, Mode::kTesting) << "a repeated field keeps its first value";
  EXPECT_EQ(p->max_age, kMtaStsMaxAge);
  EXPECT_EQ(p->mx, std::vector<std::string>{"mx.a.test"});
}

TEST(MtaStsPolicyFile, NoneNeedsNoMx) {
  auto p = parse_mta_sts_policy("version: STSv1\nmode: none\nmax_age: 0\n");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->mode, Mode::kNone);
  EXPECT_TRUE(p->mx.empty());
}

TEST(MtaStsPolicyFile, Invalid) {
  const std::string mx = "mx: mx.a.test\n", age = "max_age: 600\n";
  for (std::string body : {
           "mode: enforce\n" + mx + age,                  // no version
           "version: STSv2\nmode: enforce\n" + mx + age,  // wrong version
           "version: STSv1\n" + mx + age,                 // no mode
           "version: STSv1\nmode: Enforce\n" + mx + age,  // case matters
           "version: STSv1\nmode: enforce\n" + mx,        // no max_age
           "version: STSv1\nmode: enforce\n" + mx + "max_age: 31557601\n",
           "version: STSv1\nmode: enforce\n" + mx + "max_age: 12345678901\n",
           "version: STSv1\nmode: enforce\n" + mx + "max_age: -1\n",
           "version: STSv1\nmode: enforce\n" + age,                  // enforce without mx
           "version: STSv1\nmode: testing\n" + age,                  // testing without mx
           "version: STSv1\nmode: enforce\nmx: *.*.a.test\n" + age,  // wildcard not leftmost
           "version: STSv1\nmode: enforce\nmx: mx*.a.test\n" + age,
           "version: STSv1\nmode: enforce\nmx: -mx.a.test\n" + age,
           "version: STSv1\nmode: enforce\nmx: mx..a.test\n" + age,
           "version: STSv1\nmode: enforce\nmx:\n" + age,
           "version: STSv1\nmode: enforce\n" + mx + age + "garbage line\n",
           "version: STSv1\nmode: enforce\n" + mx + age + "bad key: x\n",
           "version: STSv1\rmode: enforce\n" + mx + age,  // bare CR
           "version: STSv1\nmode: enforce\n" + mx + age + "x: \x01\n",
           std::string("version: STSv1\nmode: enforce\n") + "mx: mx.\xc3\xa9.test\n" + age,
       }) {
    std::string error;
    EXPECT_FALSE(parse_mta_sts_policy(body, &error)) << body;
    EXPECT_FALSE(error.empty()) << body;
  }
}

TEST(MtaStsPatterns, LeftmostLabelOnly) {
  EXPECT_TRUE(mta_sts_mx_matches("mx.example.org", "MX.example.org."));
  EXPECT_TRUE(mta_sts_mx_matches("*.example.org", "mx.example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("*.example.org", "a.mx.example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("*.example.org", "example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("*.example.org", ".example.org"));
  EXPECT_FALSE(mta_sts_mx_matches("mx.example.org", "mx.example.org.evil"));
  EXPECT_FALSE(mta_sts_mx_matches("", ""));
}

MtaStsEntry entry(std::string id, std::chrono::system_clock::time_point expires) {
  return {std::move(id), MtaStsPolicy{Mode::kEnforce, {"mx.a.test"}, 600}, expires};
}

TEST(MtaStsCacheTest, ExpiresAtMaxAge) {
  MtaStsCache cache;
  auto t0 = std::chrono::system_clock::time_point{} + 1000h;
  cache.store("a.test", entry("1", t0 + 600s), t0);
  ASSERT_TRUE(cache.find("a.test", t0 + 599s));
  EXPECT_EQ(cache.find("a.test", t0 + 599s)->id, "1");
  EXPECT_FALSE(cache.find("b.test", t0));
  EXPECT_FALSE(cache.find("a.test", t0 + 600s));
  EXPECT_EQ(cache.size(), 0u) << "an expired entry is dropped when found";
}

TEST(MtaStsCacheTest, ReplaceAndBound) {
  MtaStsCache cache(2);
  auto t0 = std::chrono::system_clock::time_point{} + 1000h;
  cache.store("a.test", entry("1", t0 + 600s), t0);
  cache.store("a.test", entry("2", t0 + 600s), t0);
  EXPECT_EQ(cache.find("a.test", t0)->id, "2");
  cache.store("b.test", entry("1", t0 + 10s), t0 + 1s);
  cache.find("a.test", t0 + 2s);  // a.test is now the most recently used
  cache.store("c.test", entry("1", t0 + 600s), t0 + 3s);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.find("a.test", t0 + 4s));
  EXPECT_FALSE(cache.find("b.test", t0 + 4s)) << "least recently used goes first";
  cache.store("d.test", entry("1", t0 + 600s), t0 + 700s);  // a and c expired: both go
  EXPECT_EQ(cache.size(), 1u);
}

TEST(MtaStsCacheTest, ConcurrentUse) {
  MtaStsCache cache(50);
  auto t0 = std::chrono::system_clock::time_point{} + 1000h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::string d = "d" + std::to_string((i * 7 + t) % 80) + ".test";
        if (!cache.find(d, t0 + std::chrono::seconds(i)))
          cache.store(d, entry(std::to_string(t), t0 + 300s), t0 + std::chrono::seconds(i));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.size(), 50u);
}

TEST(MtaStsNextStep, IdsCacheAndFailures) {
  auto t = std::chrono::system_clock::time_point{} + 1000h;
  MtaStsRecord id1{"1"}, id2{"2"};
  EXPECT_EQ(next_step(std::nullopt, std::nullopt), MtaStsStep::kNoPolicy);
  EXPECT_EQ(next_step(id1, std::nullopt), MtaStsStep::kFetch);
  EXPECT_EQ(next_step(id1, entry("1", t)), MtaStsStep::kUseCached) << "unchanged id: no fetch";
  EXPECT_EQ(next_step(id2, entry("1", t)), MtaStsStep::kFetch) << "a new id: refetch";
  EXPECT_EQ(next_step(std::nullopt, entry("1", t)), MtaStsStep::kUseCached)
      << "a stripped TXT record does not undo a cached policy";
}

}  // namespace
}  // namespace sealpost::tls
