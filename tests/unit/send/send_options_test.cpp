// send_options: the command line through CLI11 and finish_send_options — server address forms,
// default ports, password sources, the 0600 client configuration file, and the sysexits(3)
// code of every refusal (64 EX_USAGE, 78 EX_CONFIG).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/send/send_options.hpp"

namespace sealpost::send {
namespace {

namespace fs = std::filesystem;

class SendOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // No client.toml of the machine or the user running the tests.
    ::unsetenv("SEALPOST_CLIENT_CONFIG");
    ::setenv("HOME", "/nonexistent-sealpost-home", 1);
    ::unsetenv("SP_TEST_PW");
    dir_ = fs::temp_directory_path() /
           ("sealpost-send-options-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Parses argv (after the program name) as `sealpost send` would; nullopt = parse error.
  std::optional<SendOptions> parse(std::vector<std::string> args) {
    CLI::App app{"send"};
    SendOptions o;
    add_send_options(app, o);
    std::vector<const char*> argv{"send"};
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError&) {
      return std::nullopt;
    }
    return o;
  }

  // parse + finish: the exit code (0 when accepted) and the options.
  std::pair<int, SendOptions> finish(std::vector<std::string> args) {
    auto o = parse(std::move(args));
    EXPECT_TRUE(o.has_value());
    if (!o) return {-1, {}};
    auto e = finish_send_options(*o);
    if (e) last_error_ = e->message;
    return {e ? e->exit_code : 0, *o};
  }

  fs::path write_config(const std::string& text, mode_t mode) {
    fs::path p = dir_ / "client.toml";
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }

  fs::path dir_;
  std::string last_error_;
};

TEST_F(SendOptionsTest, ServerForms) {
  struct Case {
    std::string server;
    bool starttls;
    std::string host;
    int port;
  };
  for (const auto& c : std::vector<Case>{{"mail.example.org", false, "mail.example.org", 465},
                                         {"mail.example.org", true, "mail.example.org", 587},
                                         {"mail.example.org:2465", false, "mail.example.org", 2465},
                                         {"127.0.0.1:25", true, "127.0.0.1", 25},
                                         {"[::1]:465", false, "::1", 465},
                                         {"[::1]", true, "::1", 587},
                                         {"::1", false, "::1", 465},
                                         {"2001:db8::5", false, "2001:db8::5", 465}}) {
    std::vector<std::string> args{"--server", c.server, "r@x"};
    if (c.starttls) args.push_back("--starttls");
    auto [code, o] = finish(args);
    ASSERT_EQ(code, 0) << c.server << ": " << last_error_;
    EXPECT_EQ(o.host, c.host) << c.server;
    EXPECT_EQ(o.port, c.port) << c.server;
    EXPECT_EQ(o.server_name, c.host);  // the certificate is checked against the host given
    EXPECT_EQ(o.tls, c.starttls ? TlsChoice::kStartTls : TlsChoice::kImplicit);
  }
}

TEST_F(SendOptionsTest, BadServersAreUsageErrors) {
  for (std::string s : {"host:0", "host:65536", "host:25x", "[::1", "[::1]x", ":25", "[]:25"}) {
    auto [code, o] = finish({"--server", s, "r@x"});
    EXPECT_EQ(code, kExUsage) << s << " -> " << last_error_;
  }
}

// Known gap (send_options.cpp, not fixed here): an empty port after the colon is taken as
// "no port" and the default is used, where a typo deserves EX_USAGE.
TEST_F(SendOptionsTest, EmptyPortIsUsageError) {
  for (std::string s : {"host:", "[::1]:"}) {
    auto [code, o] = finish({"--server", s, "r@x"});
    EXPECT_EQ(code, kExUsage) << s << " -> port " << o.port;
  }
}

TEST_F(SendOptionsTest, NoServerIsConfigError) { EXPECT_EQ(finish({"r@x"}).first, kExConfig); }

TEST_F(SendOptionsTest, ServerNameOverrides) {
  auto [code, o] = finish({"--server", "127.0.0.1:465", "--server-name", "mail.test", "r@x"});
  ASSERT_EQ(code, 0);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.server_name, "mail.test");
}

TEST_F(SendOptionsTest, StarttlsAndPlaintextExcludeEachOther) {
  EXPECT_EQ(finish({"--server", "h", "--starttls", "--plaintext-i-know", "r@x"}).first, kExUsage);
  auto [code, o] = finish({"--server", "h:25", "--plaintext-i-know", "r@x"});
  ASSERT_EQ(code, 0);
  EXPECT_EQ(o.tls, TlsChoice::kNone);
}

TEST_F(SendOptionsTest, ConnectTimeoutMustBePositive) {
  EXPECT_EQ(finish({"--server", "h", "--connect-timeout", "0", "r@x"}).first, kExUsage);
  EXPECT_FALSE(parse({"--server", "h", "--connect-timeout", "soon", "r@x"}).has_value());
}

TEST_F(SendOptionsTest, TimeoutDefaultsTo60AndMustBePositive) {
  auto [code, o] = finish({"--server", "h", "r@x"});
  ASSERT_EQ(code, 0);
  EXPECT_EQ(o.timeout, 60);
  EXPECT_EQ(finish({"--server", "h", "--timeout", "7", "r@x"}).second.timeout, 7);
  EXPECT_EQ(finish({"--server", "h", "--timeout", "0", "r@x"}).first, kExUsage);
  EXPECT_FALSE(parse({"--server", "h", "--timeout", "soon", "r@x"}).has_value());
}

TEST_F(SendOptionsTest, SendmailFlags) {
  auto [code, o] =
      finish({"-t", "-oi", "-f", "me@x", "-F", "Me Myself", "-v", "--server", "h", "a@x", "b@x"});
  ASSERT_EQ(code, 0) << last_error_;
  EXPECT_TRUE(o.recipients_from_headers);
  EXPECT_TRUE(o.ignore_dots);
  EXPECT_TRUE(o.verbose);
  EXPECT_EQ(o.sender, "me@x");
  EXPECT_EQ(o.full_name, "Me Myself");
  EXPECT_EQ(o.recipients, (std::vector<std::string>{"a@x", "b@x"}));
  // "-oi rcpt": the recipient is not swallowed as a second -o value; other -oX are ignored
  auto [code2, o2] = finish({"--server", "h", "-oem", "-oi", "rcpt@x"});
  ASSERT_EQ(code2, 0);
  EXPECT_TRUE(o2.ignore_dots);
  EXPECT_EQ(o2.recipients, (std::vector<std::string>{"rcpt@x"}));
  auto [code3, o3] = finish({"--server", "h", "-i", "r@x"});
  ASSERT_EQ(code3, 0);
  EXPECT_TRUE(o3.ignore_dots);
}

TEST_F(SendOptionsTest, UnknownOptionIsParseError) {
  EXPECT_FALSE(parse({"--server", "h", "--no-such-option", "r@x"}).has_value());
}

TEST_F(SendOptionsTest, UserNeedsAPassword) {
  EXPECT_EQ(finish({"--server", "h", "--user", "u", "r@x"}).first, kExConfig);
  EXPECT_EQ(finish({"--server", "h", "--user", "u", "--password-env", "SP_TEST_PW", "r@x"}).first,
            kExConfig);  // named but not set
  ::setenv("SP_TEST_PW", "s3cret with spaces", 1);
  auto [code, o] = finish({"--server", "h", "--user", "u", "--password-env", "SP_TEST_PW", "r@x"});
  ASSERT_EQ(code, 0);
  EXPECT_EQ(o.password, "s3cret with spaces");
}

TEST_F(SendOptionsTest, PasswordCommandFirstLine) {
  auto [code, o] = finish({"--server", "h", "--user", "u", "--password-command",
                           "printf 'first\\r\\nsecond\\n'", "r@x"});
  ASSERT_EQ(code, 0) << last_error_;
  EXPECT_EQ(o.password, "first");
  // its stdin is not ours (ours is the message): reading it sees EOF at once
  auto [code2, o2] =
      finish({"--server", "h", "--user", "u", "--password-command", "cat; echo from-cat", "r@x"});
  ASSERT_EQ(code2, 0);
  EXPECT_EQ(o2.password, "from-cat");
}

TEST_F(SendOptionsTest, FailingPasswordCommandIsConfigError) {
  EXPECT_EQ(finish({"--server", "h", "--user", "u", "--password-command", "exit 3", "r@x"}).first,
            kExConfig);
  // a command that prints nothing leaves no password
  EXPECT_EQ(finish({"--server", "h", "--user", "u", "--password-command", "true", "r@x"}).first,
            kExConfig);
}

TEST_F(SendOptionsTest, ClientConfigFile) {
  auto path = write_config(
      "server = \"mail.example.org\"\nport = 2465\nuser = \"alice\"\npassword = \"pw\"\n"
      "ca = \"/etc/ca.pem\"\npin_sha256 = \"abc=\"\nmechanism = \"PLAIN\"\n",
      0600);
  auto [code, o] = finish({"--client-config", path.string(), "r@x"});
  ASSERT_EQ(code, 0) << last_error_;
  EXPECT_EQ(o.host, "mail.example.org");
  EXPECT_EQ(o.port, 2465);
  EXPECT_EQ(o.user, "alice");
  EXPECT_EQ(o.password, "pw");
  EXPECT_EQ(o.ca_file, "/etc/ca.pem");
  EXPECT_EQ(o.pin_sha256, "abc=");
  EXPECT_EQ(o.mechanism, "PLAIN");
  // the command line wins
  auto [code2, o2] =
      finish({"--client-config", path.string(), "--server", "other:25", "--user", "bob", "r@x"});
  ASSERT_EQ(code2, 0);
  EXPECT_EQ(o2.host, "other");
  EXPECT_EQ(o2.port, 25);
  EXPECT_EQ(o2.user, "bob");
}

TEST_F(SendOptionsTest, ClientConfigFromEnvironmentAndTlsKey) {
  auto path = write_config("server = \"h\"\ntls = \"starttls\"\n", 0400);
  ::setenv("SEALPOST_CLIENT_CONFIG", path.c_str(), 1);
  auto [code, o] = finish({"r@x"});
  ::unsetenv("SEALPOST_CLIENT_CONFIG");
  ASSERT_EQ(code, 0) << last_error_;
  EXPECT_EQ(o.tls, TlsChoice::kStartTls);
  EXPECT_EQ(o.port, 587);
}

TEST_F(SendOptionsTest, ClientConfigInHome) {
  fs::create_directories(dir_ / ".config" / "sealpost");
  fs::path p = dir_ / ".config" / "sealpost" / "client.toml";
  std::ofstream(p) << "server = \"from-home\"\n";
  ::chmod(p.c_str(), 0600);
  ::setenv("HOME", dir_.c_str(), 1);
  auto [code, o] = finish({"r@x"});
  ASSERT_EQ(code, 0) << last_error_;
  EXPECT_EQ(o.host, "from-home");
}

TEST_F(SendOptionsTest, ClientConfigRefusals) {
  struct Case {
    std::string text;
    mode_t mode;
    const char* why;
  };
  for (const auto& c : std::vector<Case>{
           {"server = \"h\"\n", 0644, "too open"},
           {"server = \"h\"\n", 0640, "too open"},
           {"server = \"h\"\n", 0604, "too open"},
           {"server = \"h\"\nbogus = 1\n", 0600, "unknown key"},
           {"server = \"h\"\ntls = \"sometimes\"\n", 0600, "tls must be"},
           {"server = \"h\"\nport = 0\n", 0600, "port out of range"},
           {"server = \"h\"\nport = 70000\n", 0600, "port out of range"},
           {"server = \"h\n", 0600, ""},  // TOML syntax error
       }) {
    auto path = write_config(c.text, c.mode);
    auto [code, o] = finish({"--client-config", path.string(), "r@x"});
    EXPECT_EQ(code, kExConfig) << c.text;
    EXPECT_NE(last_error_.find(c.why), std::string::npos) << last_error_;
  }
  EXPECT_EQ(finish({"--client-config", (dir_ / "missing.toml").string(), "r@x"}).first, kExConfig);
}

}  // namespace
}  // namespace sealpost::send
