// ConnectionLimiter: total and per-address caps, release on destruction, IPv6 per /64.
#include "net/connection_limiter.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sealpost::net {
namespace {

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

TEST(ConnectionLimiter, CapsPerAddressAndReleases) {
  ConnectionLimiter limiter(100, 2);
  std::string why;
  auto a = limiter.acquire(ip("192.0.2.1"), &why);
  auto b = limiter.acquire(ip("192.0.2.1"), &why);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(limiter.acquire(ip("192.0.2.1"), &why));
  EXPECT_NE(why.find("max_connections_per_ip"), std::string::npos);
  EXPECT_TRUE(limiter.acquire(ip("192.0.2.2"), &why));  // another address is unaffected
  a.reset();
  EXPECT_TRUE(limiter.acquire(ip("192.0.2.1"), &why));
  EXPECT_EQ(limiter.open(), 1u);  // only b is still held
}

TEST(ConnectionLimiter, CapsTotal) {
  ConnectionLimiter limiter(3, 10);
  std::string why;
  std::vector<ConnectionLimiter::Slot> held;
  for (const char* a : {"192.0.2.1", "192.0.2.2", "192.0.2.3"}) {
    auto s = limiter.acquire(ip(a), &why);
    ASSERT_TRUE(s);
    held.push_back(std::move(*s));
  }
  EXPECT_FALSE(limiter.acquire(ip("192.0.2.4"), &why));
  EXPECT_NE(why.find("max_connections (3)"), std::string::npos);
  held.pop_back();
  EXPECT_TRUE(limiter.acquire(ip("192.0.2.4"), &why));
}

TEST(ConnectionLimiter, Ipv6CountsPerSlash64AndMappedV4AsV4) {
  ConnectionLimiter limiter(100, 1);
  std::string why;
  auto a = limiter.acquire(ip("2001:db8:1:2::1"), &why);
  ASSERT_TRUE(a);
  EXPECT_FALSE(limiter.acquire(ip("2001:db8:1:2:ffff::9"), &why));  // same /64
  EXPECT_TRUE(limiter.acquire(ip("2001:db8:1:3::1"), &why));        // another /64
  auto v4 = limiter.acquire(ip("192.0.2.7"), &why);
  ASSERT_TRUE(v4);
  EXPECT_FALSE(limiter.acquire(ip("::ffff:192.0.2.7"), &why));
}

}  // namespace
}  // namespace sealpost::net
