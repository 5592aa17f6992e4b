// `sealpost bench` option parsing through CLI11 and the cross-option checks.
#include "cli/bench/bench_options.hpp"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

namespace sealpost::bench {
namespace {

// Parses "bench ARGS..." as main() does; returns the CLI11 error text, or "" on success.
std::string parse(std::vector<std::string> args, BenchOptions& o) {
  CLI::App app;
  auto* sub = app.add_subcommand("bench");
  add_bench_options(*sub, o);
  args.insert(args.begin(), "bench");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return "";
}

TEST(BenchOptions, Defaults) {
  BenchOptions o;
  ASSERT_EQ(parse({}, o), "");
  ASSERT_FALSE(finish_options(o));
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 465);
  EXPECT_EQ(o.tls, TlsMode::kImplicit);
  EXPECT_EQ(o.concurrency, 1u);
  EXPECT_EQ(o.per_conn, 1u);
  EXPECT_EQ(o.size, 1024u);
  EXPECT_EQ(o.rcpts, 1u);
  EXPECT_EQ(o.threads, 1u);
  EXPECT_FALSE(o.resume);
  EXPECT_FALSE(o.pipelining);
}

TEST(BenchOptions, Everything) {
  BenchOptions o;
  ASSERT_EQ(parse({"--server",    "[::1]:10465",  "--tls",       "starttls",   "-c",
                   "16",          "-m",           "5000",        "--per-conn", "100",
                   "--size",      "102400",       "--rcpts",     "3",          "--from",
                   "a@b.example", "--to",         "x@mail.test", "--to",       "y@mail.test",
                   "--auth",      "alice:pa:ss",  "--resume",    "--duration", "2.5",
                   "--ca",        "/tmp/ca.pem",  "--sni",       "mail.test",  "--threads",
                   "2",           "--pipelining", "--json",      "--timeout",  "5"},
                  o),
            "");
  ASSERT_FALSE(finish_options(o));
  EXPECT_EQ(o.host, "::1");
  EXPECT_EQ(o.port, 10465);
  EXPECT_EQ(o.tls, TlsMode::kStartTls);
  EXPECT_EQ(o.concurrency, 16u);
  EXPECT_EQ(o.messages, 5000u);
  EXPECT_EQ(o.per_conn, 100u);
  EXPECT_EQ(o.size, 102400u);
  EXPECT_EQ(o.rcpts, 3u);
  EXPECT_EQ(o.from, "a@b.example");
  EXPECT_EQ(o.to, (std::vector<std::string>{"x@mail.test", "y@mail.test"}));
  EXPECT_EQ(o.auth_user, "alice");
  EXPECT_EQ(o.auth_password, "pa:ss");  // only the first colon splits
  EXPECT_TRUE(o.resume);
  EXPECT_DOUBLE_EQ(o.duration, 2.5);
  EXPECT_EQ(o.ca, "/tmp/ca.pem");
  EXPECT_EQ(o.sni, "mail.test");
  EXPECT_EQ(o.threads, 2u);
  EXPECT_TRUE(o.pipelining);
  EXPECT_TRUE(o.json);
}

TEST(BenchOptions, TlsModes) {
  for (auto [text, mode] :
       {std::pair{"implicit", TlsMode::kImplicit}, std::pair{"STARTTLS", TlsMode::kStartTls},
        std::pair{"none", TlsMode::kNone}}) {
    BenchOptions o;
    ASSERT_EQ(parse({"--tls", text}, o), "") << text;
    EXPECT_EQ(o.tls, mode) << text;
  }
  BenchOptions o;
  EXPECT_NE(parse({"--tls", "ssl"}, o), "");
}

TEST(BenchOptions, RangesRejected) {
  for (auto args : std::vector<std::vector<std::string>>{{"-c", "0"},
                                                         {"-m", "0"},
                                                         {"--per-conn", "0"},
                                                         {"--rcpts", "0"},
                                                         {"--threads", "0"},
                                                         {"-c", "many"},
                                                         {"--size", "-1"},
                                                         {"--unknown"}}) {
    BenchOptions o;
    EXPECT_NE(parse(args, o), "") << args[0];
  }
}

TEST(BenchOptions, CrossChecks) {
  auto error = [](std::vector<std::string> args) {
    BenchOptions o;
    EXPECT_EQ(parse(args, o), "");
    return finish_options(o).value_or("");
  };
  EXPECT_NE(error({"--server", "localhost"}), "");
  EXPECT_NE(error({"--server", "localhost:0"}), "");
  EXPECT_NE(error({"--server", "localhost:65536"}), "");
  EXPECT_NE(error({"--server", "::1:25"}), "");  // IPv6 needs brackets
  EXPECT_NE(error({"--server", "[::1]25"}), "");
  EXPECT_NE(error({"--auth", "nopassword"}), "");
  EXPECT_NE(error({"--auth", ":pass"}), "");
  EXPECT_NE(error({"--to", "a@b>\r\nRSET"}), "");  // no command injection through addresses
  EXPECT_NE(error({"--tls", "none", "--resume"}), "");
  EXPECT_NE(error({"--ca", "x.pem", "--insecure"}), "");
  EXPECT_EQ(error({"--server", "mail.test:25", "--tls", "none"}), "");
}

TEST(BenchOptions, SplitHostPort) {
  EXPECT_EQ(split_host_port("127.0.0.1:25"),
            (std::pair<std::string, std::uint16_t>{"127.0.0.1", 25}));
  EXPECT_EQ(split_host_port("[::1]:465"), (std::pair<std::string, std::uint16_t>{"::1", 465}));
  EXPECT_EQ(split_host_port("mail.test:65535")->second, 65535);
  EXPECT_FALSE(split_host_port(":25"));
  EXPECT_FALSE(split_host_port("host:"));
  EXPECT_FALSE(split_host_port("host:25x"));
  EXPECT_FALSE(split_host_port("[::1"));
}

}  // namespace
}  // namespace sealpost::bench
