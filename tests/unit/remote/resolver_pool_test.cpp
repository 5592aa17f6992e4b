// ResolverPool: resolvers are reused across deliveries (their caches with them), one per
// concurrent user, and a lease always gives its resolver back.
#include "delivery/remote/resolver_pool.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace sealpost::delivery::remote {
namespace {

dns::ResolverOptions offline() {
  dns::ResolverOptions o;
  o.forwarders = {"127.0.0.1@9"};  // never asked in these tests
  o.validate = false;
  return o;
}

TEST(ResolverPool, ReusesAndCreatesOnDemand) {
  ResolverPool pool(offline());
  EXPECT_EQ(pool.idle(), 0u);
  auto a = pool.take(), b = pool.take();
  ASSERT_TRUE(a && b);
  pool.give_back(std::move(*a));
  pool.give_back(std::move(*b));
  EXPECT_EQ(pool.idle(), 2u);
  {
    auto c = pool.take();
    ASSERT_TRUE(c);
    EXPECT_EQ(pool.idle(), 1u);
    ResolverPool::Lease lease(pool, std::move(*c));
    (void)*lease;
  }
  EXPECT_EQ(pool.idle(), 2u) << "the lease gave it back";
}

TEST(ResolverPool, IdleIsBounded) {
  ResolverPool pool(offline(), 1);
  auto a = pool.take(), b = pool.take();
  ASSERT_TRUE(a && b);
  pool.give_back(std::move(*a));
  pool.give_back(std::move(*b));
  EXPECT_EQ(pool.idle(), 1u);
}

TEST(ResolverPool, ConcurrentLeases) {
  ResolverPool pool(offline());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = pool.take();
        ASSERT_TRUE(r);
        ResolverPool::Lease lease(pool, std::move(*r));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_GE(pool.idle(), 1u);
  EXPECT_LE(pool.idle(), 4u) << "no more resolvers than concurrent users";
}

}  // namespace
}  // namespace sealpost::delivery::remote
