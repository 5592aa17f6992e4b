// dns::Resolver on an Asio loop and dns::BlockingResolver against a loopback fake server (no
// DNSSEC: validation off, so answers are insecure; the DNSSEC states are tested against the
// real lab in tests/integration/test_12_dns.py).
#include "dns/resolver.hpp"

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <optional>
#include <thread>

#include "fake_dns_server.hpp"

namespace sealpost::dns {
namespace {

using namespace std::chrono_literals;

ResolverOptions options_for(const test::FakeDnsServer& server,
                            std::chrono::milliseconds timeout = 5000ms) {
  ResolverOptions o;
  o.forwarders = {"127.0.0.1@" + std::to_string(server.port())};
  o.validate = false;
  o.timeout = timeout;
  return o;
}

TEST(Resolver, AsyncAnswerRunsOnTheLoop) {
  test::FakeDnsServer server;
  asio::io_context io;
  auto resolver = Resolver::create(io, options_for(server));
  ASSERT_TRUE(resolver) << resolver.error();
  std::optional<Result> a, mx, nx, nodata;
  std::thread::id callback_thread;
  (*resolver)->resolve("a.example", RrType::kA, [&](Result r) {
    callback_thread = std::this_thread::get_id();
    a = std::move(r);
  });
  (*resolver)->resolve("mx.example", RrType::kMx, [&](Result r) { mx = std::move(r); });
  (*resolver)->resolve("nx.example", RrType::kA, [&](Result r) { nx = std::move(r); });
  (*resolver)->resolve("a.example", RrType::kTxt, [&](Result r) { nodata = std::move(r); });
  EXPECT_FALSE(a);  // never inside resolve()
  io.run_for(10s);  // returns once nothing is outstanding
  ASSERT_TRUE(a && *a) << (a ? a->error() : "no callback");
  EXPECT_EQ(callback_thread, std::this_thread::get_id());
  EXPECT_TRUE((*a)->has_data);
  EXPECT_EQ((*a)->security, Security::kInsecure);
  EXPECT_EQ((*a)->ttl, 120u);
  EXPECT_EQ((*a)->addresses().records, std::vector<std::string>{"192.0.2.1"});
  ASSERT_TRUE(mx && *mx);
  auto mxs = (*mx)->mx();
  ASSERT_EQ(mxs.records.size(), 1u);
  EXPECT_EQ(mxs.records[0].exchange, "mail.example.");
  EXPECT_FALSE((*mx)->null_mx());
  ASSERT_TRUE(nx && *nx);
  EXPECT_TRUE((*nx)->nxdomain);
  EXPECT_EQ((*nx)->rcode, kRcodeNxDomain);
  ASSERT_TRUE(nodata && *nodata);
  EXPECT_TRUE((*nodata)->nodata());
}

TEST(Resolver, CallbackMayStartAnotherLookup) {
  test::FakeDnsServer server;
  asio::io_context io;
  auto resolver = Resolver::create(io, options_for(server));
  ASSERT_TRUE(resolver) << resolver.error();
  int done = 0;
  (*resolver)->resolve("a.example", RrType::kA, [&](Result r) {
    EXPECT_TRUE(r);
    ++done;
    (*resolver)->resolve("mx.example", RrType::kMx, [&](Result r2) {
      EXPECT_TRUE(r2);
      ++done;
    });
  });
  io.run_for(10s);
  EXPECT_EQ(done, 2);
}

TEST(Resolver, TimeoutIsAnError) {
  test::FakeDnsServer server;
  asio::io_context io;
  auto resolver = Resolver::create(io, options_for(server, 300ms));
  ASSERT_TRUE(resolver);
  std::optional<Result> slow;
  auto start = std::chrono::steady_clock::now();
  (*resolver)->resolve("slow.example", RrType::kA, [&](Result r) { slow = std::move(r); });
  io.run_for(10s);
  ASSERT_TRUE(slow);
  ASSERT_FALSE(*slow);
  EXPECT_NE(slow->error().find("no answer within"), std::string::npos) << slow->error();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(Resolver, LookupAfterAnExpiryIsAnswered) {
  test::FakeDnsServer server;
  asio::io_context io;
  auto resolver = Resolver::create(io, options_for(server, 300ms));
  ASSERT_TRUE(resolver);
  std::optional<Result> after;
  (*resolver)->resolve("slow.example", RrType::kA, [&](Result r) {
    EXPECT_FALSE(r);
    (*resolver)->resolve("a.example", RrType::kA, [&](Result r2) { after = std::move(r2); });
  });
  io.run_for(10s);
  ASSERT_TRUE(after);
  ASSERT_TRUE(*after) << after->error();
  EXPECT_EQ((*after)->texts(), std::vector<std::string>{"192.0.2.1"});
}

TEST(Resolver, ManyConcurrentQueries) {
  test::FakeDnsServer server;
  asio::io_context io;
  auto resolver = Resolver::create(io, options_for(server));
  ASSERT_TRUE(resolver);
  int answered = 0;
  for (int i = 0; i < 50; ++i)
    (*resolver)->resolve(i % 2 ? "a.example" : "mx.example", i % 2 ? RrType::kA : RrType::kMx,
                         [&](Result r) { answered += r && (*r).has_data ? 1 : 0; });
  io.run_for(10s);
  EXPECT_EQ(answered, 50);
}

TEST(Resolver, DestroyedWithQueriesOutstanding) {
  test::FakeDnsServer server;
  asio::io_context io;
  bool called = false;
  {
    auto resolver = Resolver::create(io, options_for(server));
    ASSERT_TRUE(resolver);
    (*resolver)->resolve("slow.example", RrType::kA, [&](Result) { called = true; });
    io.run_for(100ms);
  }
  io.run_for(200ms);  // stale handlers find no resolver and do nothing
  EXPECT_FALSE(called);
}

TEST(Resolver, PostedCompletionDroppedWhenDestroyedBeforeItRuns) {
  test::FakeDnsServer server;
  asio::io_context io;
  bool called = false;
  {
    auto resolver = Resolver::create(io, options_for(server));
    ASSERT_TRUE(resolver);
    // An invalid name completes at once: the callback is posted to the loop, not yet run.
    (*resolver)->resolve("", RrType::kA, [&](Result) { called = true; });
  }
  io.run_for(200ms);
  EXPECT_FALSE(called) << "~Resolver promises no callback after destruction";
}

TEST(Resolver, CallbackThatDestroysTheResolverStopsTheOthers) {
  test::FakeDnsServer server;
  asio::io_context io;
  auto resolver = Resolver::create(io, options_for(server));
  ASSERT_TRUE(resolver);
  std::unique_ptr<Resolver> owner = std::move(*resolver);
  int called = 0;
  owner->resolve("", RrType::kA, [&](Result r) {
    EXPECT_FALSE(r);
    ++called;
    owner.reset();
  });
  owner->resolve("", RrType::kA, [&](Result) { ++called; });
  io.run_for(200ms);
  EXPECT_EQ(called, 1);
}

TEST(Resolver, BadOptionsFailClearly) {
  asio::io_context io;
  ResolverOptions o;
  o.forwarders = {"not-an-address"};
  o.validate = false;
  auto r = Resolver::create(io, o);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("not-an-address"), std::string::npos) << r.error();
  o.forwarders = {"127.0.0.1"};
  o.validate = true;
  o.trust_anchor_files = {"/nonexistent/anchor.ds"};
  auto r2 = BlockingResolver::create(o);
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().find("/nonexistent/anchor.ds"), std::string::npos) << r2.error();
}

TEST(Resolver, InvalidNames) {
  test::FakeDnsServer server;
  auto r = BlockingResolver::create(options_for(server));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->resolve("", RrType::kA));
  EXPECT_FALSE(r->resolve(std::string("a\0b", 3), RrType::kA));
  EXPECT_FALSE(r->resolve(std::string(70, 'x') + ".example", RrType::kA));  // label > 63
}

TEST(BlockingResolver, AnswersAndTimesOut) {
  test::FakeDnsServer server;
  auto r = BlockingResolver::create(options_for(server, 300ms));
  ASSERT_TRUE(r) << r.error();
  auto a = r->resolve("a.example", RrType::kA);
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->texts(), std::vector<std::string>{"192.0.2.1"});
  auto slow = r->resolve("slow.example", RrType::kA);
  ASSERT_FALSE(slow);
  // The cancelled query does not disturb the next one.
  auto nx = r->resolve("nx.example", RrType::kA);
  ASSERT_TRUE(nx) << nx.error();
  EXPECT_TRUE(nx->nxdomain);
}

}  // namespace
}  // namespace sealpost::dns
