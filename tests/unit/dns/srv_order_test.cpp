// RFC 2782 ordering with a scripted random source: priority first, weighted draw within a
// priority, weight-0 records first in the running sum, "." dropped / recognised.
#include "dns/srv_order.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace sealpost::dns {
namespace {

SrvRecord srv(std::uint16_t prio, std::uint16_t weight, std::string target) {
  return SrvRecord{prio, weight, 465, std::move(target)};
}

std::vector<std::string> targets(const std::vector<SrvRecord>& v) {
  std::vector<std::string> out;
  for (const auto& r : v) out.push_back(r.target);
  return out;
}

RandomUpTo scripted(std::vector<std::uint32_t> draws) {
  auto i = std::make_shared<std::size_t>(0);
  return [draws, i](std::uint32_t bound) {
    std::uint32_t v = draws.at((*i)++);
    EXPECT_LE(v, bound);
    return v;
  };
}

TEST(SrvOrder, PriorityFirst) {
  auto out = order_srv({srv(20, 0, "c."), srv(10, 0, "a."), srv(15, 0, "b.")}, scripted({0, 0, 0}));
  EXPECT_EQ(targets(out), (std::vector<std::string>{"a.", "b.", "c."}));
}

TEST(SrvOrder, WeightedDrawWithinPriority) {
  // Weights 10 (x), 30 (y); running sums 10, 40. A draw of 11 picks y, then x is alone.
  auto out = order_srv({srv(1, 10, "x."), srv(1, 30, "y.")}, scripted({11, 0}));
  EXPECT_EQ(targets(out), (std::vector<std::string>{"y.", "x."}));
  out = order_srv({srv(1, 10, "x."), srv(1, 30, "y.")}, scripted({10, 0}));
  EXPECT_EQ(targets(out), (std::vector<std::string>{"x.", "y."}));
}

TEST(SrvOrder, WeightZeroPlacedFirst) {
  // RFC 2782: weight-0 records go to the front, so a draw of 0 selects them.
  auto out = order_srv({srv(1, 50, "heavy."), srv(1, 0, "zero.")}, scripted({0, 0}));
  EXPECT_EQ(targets(out), (std::vector<std::string>{"zero.", "heavy."}));
  out = order_srv({srv(1, 50, "heavy."), srv(1, 0, "zero.")}, scripted({1, 0}));
  EXPECT_EQ(targets(out), (std::vector<std::string>{"heavy.", "zero."}));
}

TEST(SrvOrder, WeightsRoughlyProportional) {
  std::mt19937 engine(42);
  RandomUpTo random = [&](std::uint32_t bound) {
    return std::uniform_int_distribution<std::uint32_t>(0, bound)(engine);
  };
  std::map<std::string, int> first;
  for (int i = 0; i < 4000; ++i)
    ++first[order_srv({srv(0, 10, "light."), srv(0, 30, "heavy.")}, random).front().target];
  // RFC 2782 draws from [0, 40] inclusive: light wins on 0..10 (11/41), heavy on 11..40
  // (30/41), i.e. about 2927 of 4000 runs.
  EXPECT_GT(first["heavy."], 2750);
  EXPECT_LT(first["heavy."], 3100);
}

TEST(SrvOrder, DotTarget) {
  EXPECT_TRUE(srv_service_unavailable({srv(0, 0, ".")}));
  EXPECT_FALSE(srv_service_unavailable({srv(0, 0, "."), srv(1, 0, "mail.")}));
  EXPECT_FALSE(srv_service_unavailable({}));
  EXPECT_FALSE(srv_service_unavailable({srv(0, 0, "mail.")}));
  EXPECT_TRUE(order_srv({srv(0, 0, ".")}).empty());
  auto out = order_srv({srv(0, 0, "."), srv(1, 0, "mail.")});
  EXPECT_EQ(targets(out), (std::vector<std::string>{"mail."}));
}

TEST(SrvOrder, BadRandomSourceClamped) {
  auto out = order_srv({srv(0, 1, "a."), srv(0, 1, "b.")}, [](std::uint32_t) { return 1000u; });
  EXPECT_EQ(out.size(), 2u);
}

TEST(SrvOrder, ManyRecordsAllKept) {
  std::vector<SrvRecord> in;
  for (int i = 0; i < 200; ++i) in.push_back(srv(i % 3, i % 7, "h" + std::to_string(i) + "."));
  auto out = order_srv(in);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 1; i < out.size(); ++i) EXPECT_LE(out[i - 1].priority, out[i].priority);
}

}  // namespace
}  // namespace sealpost::dns
