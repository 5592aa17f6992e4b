// Tests for config_loader: a full valid file, the embedded default, the to_toml round trip, the
// shipped example and load_file's path handling. Validation errors live in config_errors_test.
#include "config/config_loader.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <fstream>
#include <sstream>

namespace sealpost::config {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFull = R"(hostname = "mail.example.org"
state_dir = "state"
threads = 4
log_level = "debug"
postmaster = "admin@example.org"

[pki.main]
cert = ["tls/ecdsa.pem", "/etc/sealpost/rsa.pem"]
key = ["tls/ecdsa.key", "/etc/sealpost/rsa.key"]

[pki.backup]
cert = "/etc/sealpost/backup.pem"
key = "/etc/sealpost/backup.key"

[[listen]]
address = "[::1]:465"
tls = "implicit"
role = "submission"
pki = ["main", "backup"]

[[listen]]
address = "0.0.0.0:25"
tls = "starttls"
role = "mx"
pki = ["backup"]

[[listen]]
address = "127.0.0.1:2525"
tls = "none"
role = "mx"

[domains]
local = ["Example.org", "example.net"]

[[mailbox]]
address = "demo@example.org"

[[mailbox]]
address = "admin@EXAMPLE.net"
maildir = "/var/mail/admin"

[[mailbox]]
address = "admin@example.org"
maildir = "mail/admin"

[limits]
max_message_size = 1048576
max_recipients = 50
max_bad_commands = 5
idle_timeout = 60
session_timeout = 600
tls_handshake_timeout = 5

[accounts]
file = "users"
scram_iterations = 4096
expose_user = true

[auth]
delay_after = 0
lockout_after = 5
lockout = 60
max_delay = 4
window = 600
)";

TEST(ConfigLoader, FullFile) {
  Config c = load_string(kFull, "full.toml", "/etc/sealpost");
  EXPECT_EQ(c.source, "full.toml");
  EXPECT_EQ(c.hostname, "mail.example.org");
  EXPECT_EQ(c.state_dir, "/etc/sealpost/state");
  EXPECT_EQ(c.threads, 4u);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.postmaster, "admin@example.org");

  ASSERT_EQ(c.pki.size(), 2u);
  EXPECT_EQ(c.pki[0].name, "main");  // file order, not toml++'s sorted order
  EXPECT_EQ(c.pki[0].certs,
            (std::vector<fs::path>{"/etc/sealpost/tls/ecdsa.pem", "/etc/sealpost/rsa.pem"}));
  EXPECT_EQ(c.pki[0].keys,
            (std::vector<fs::path>{"/etc/sealpost/tls/ecdsa.key", "/etc/sealpost/rsa.key"}));
  EXPECT_EQ(c.pki[1].name, "backup");
  EXPECT_EQ(c.pki[1].certs, std::vector<fs::path>{"/etc/sealpost/backup.pem"});

  ASSERT_EQ(c.listeners.size(), 3u);
  EXPECT_EQ(c.listeners[0].address, "::1");
  EXPECT_EQ(c.listeners[0].port, 465);
  EXPECT_EQ(c.listeners[0].tls, TlsMode::kImplicit);
  EXPECT_EQ(c.listeners[0].role, Role::kSubmission);
  EXPECT_EQ(c.listeners[0].pki, (std::vector<std::string>{"main", "backup"}));
  EXPECT_EQ(c.listeners[1].address, "0.0.0.0");
  EXPECT_EQ(c.listeners[1].port, 25);
  EXPECT_EQ(c.listeners[1].tls, TlsMode::kStartTls);
  EXPECT_EQ(c.listeners[1].role, Role::kMx);
  EXPECT_EQ(c.listeners[2].tls, TlsMode::kNone);
  EXPECT_TRUE(c.listeners[2].pki.empty());

  EXPECT_EQ(c.local_domains, (std::vector<std::string>{"example.org", "example.net"}));
  ASSERT_EQ(c.mailboxes.size(), 3u);
  EXPECT_EQ(c.mailboxes[0].maildir, "/etc/sealpost/state/mail/demo@example.org");
  EXPECT_EQ(c.mailboxes[1].address, "admin@EXAMPLE.net");
  EXPECT_EQ(c.mailboxes[1].maildir, "/var/mail/admin");
  EXPECT_EQ(c.mailboxes[2].maildir, "/etc/sealpost/mail/admin");

  EXPECT_EQ(c.limits.max_message_size, 1048576u);
  EXPECT_EQ(c.limits.max_recipients, 50u);
  EXPECT_EQ(c.limits.max_bad_commands, 5u);
  EXPECT_EQ(c.limits.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(c.limits.session_timeout, std::chrono::seconds(600));
  EXPECT_EQ(c.limits.tls_handshake_timeout, std::chrono::seconds(5));

  EXPECT_EQ(c.accounts.file, "/etc/sealpost/users");  // relative to the file's directory
  EXPECT_EQ(c.accounts.scram_iterations, 4096u);
  EXPECT_TRUE(c.accounts.expose_user);
  EXPECT_EQ(c.auth.delay_after, 0u);
  EXPECT_EQ(c.auth.lockout_after, 5u);
  EXPECT_EQ(c.auth.lockout, std::chrono::seconds(60));
  EXPECT_EQ(c.auth.max_delay, std::chrono::seconds(4));
  EXPECT_EQ(c.auth.window, std::chrono::seconds(600));
}

TEST(ConfigLoader, DefaultsFillTheRest) {
  Config c = load_string(R"([pki.a]
cert = "c.pem"
key = "k.pem"
[[listen]]
address = "127.0.0.1:465"
tls = "implicit"
role = "submission"
pki = ["a"]
[domains]
local = ["localhost"]
[[mailbox]]
address = "me@localhost"
)",
                         "min.toml", "/srv");
  Limits defaults;
  EXPECT_EQ(c.hostname, "localhost");
  EXPECT_EQ(c.state_dir, "/srv/sealpost-state");
  EXPECT_EQ(c.threads, 0u);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.postmaster, "me@localhost");  // the first mailbox
  EXPECT_EQ(c.mailboxes[0].maildir, "/srv/sealpost-state/mail/me@localhost");
  EXPECT_EQ(c.limits.max_message_size, defaults.max_message_size);
  EXPECT_EQ(c.limits.idle_timeout, defaults.idle_timeout);
  EXPECT_TRUE(c.accounts.file.empty());  // no file: AUTH is not offered
  EXPECT_EQ(c.accounts.scram_iterations, 100000u);
  EXPECT_FALSE(c.accounts.expose_user);
  EXPECT_EQ(c.auth.delay_after, 3u);
  EXPECT_EQ(c.auth.lockout_after, 10u);
  EXPECT_EQ(c.auth.lockout, std::chrono::seconds(900));
  EXPECT_EQ(c.auth.max_delay, std::chrono::seconds(8));
  EXPECT_EQ(c.auth.window, std::chrono::seconds(3600));
}

TEST(ConfigLoader, EmbeddedDefault) {
  Config c = embedded_default("/tmp/sp");
  EXPECT_TRUE(c.source.empty());
  EXPECT_EQ(c.hostname, "localhost");
  EXPECT_EQ(c.state_dir, "/tmp/sp");
  ASSERT_EQ(c.pki.size(), 1u);
  EXPECT_EQ(c.pki[0].name, "default");
  EXPECT_EQ(c.pki[0].certs, std::vector<fs::path>{"/tmp/sp/tls/cert.pem"});
  EXPECT_EQ(c.pki[0].keys, std::vector<fs::path>{"/tmp/sp/tls/key.pem"});
  ASSERT_EQ(c.listeners.size(), 3u);
  struct Want {
    std::uint16_t port;
    TlsMode tls;
    Role role;
  };
  Want want[] = {{10465, TlsMode::kImplicit, Role::kSubmission},
                 {10587, TlsMode::kStartTls, Role::kSubmission},
                 {10025, TlsMode::kStartTls, Role::kMx}};
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(c.listeners[i].address, "127.0.0.1");
    EXPECT_EQ(c.listeners[i].port, want[i].port);
    EXPECT_EQ(c.listeners[i].tls, want[i].tls);
    EXPECT_EQ(c.listeners[i].role, want[i].role);
    EXPECT_EQ(c.listeners[i].pki, std::vector<std::string>{"default"});
  }
  EXPECT_EQ(c.local_domains, std::vector<std::string>{"localhost"});
  ASSERT_EQ(c.mailboxes.size(), 1u);
  EXPECT_EQ(c.mailboxes[0].address, "demo@localhost");
  EXPECT_EQ(c.mailboxes[0].maildir, "/tmp/sp/mail/demo@localhost");
  EXPECT_EQ(c.postmaster, "demo@localhost");
  EXPECT_EQ(c.accounts.file, "/tmp/sp/users");
  EXPECT_FALSE(c.accounts.expose_user);
}

// Field-by-field, since the plain structs carry no operator==.
void expect_same(const Config& a, const Config& b) {
  EXPECT_EQ(a.hostname, b.hostname);
  EXPECT_EQ(a.state_dir, b.state_dir);
  EXPECT_EQ(a.threads, b.threads);
  EXPECT_EQ(a.log_level, b.log_level);
  EXPECT_EQ(a.postmaster, b.postmaster);
  ASSERT_EQ(a.pki.size(), b.pki.size());
  for (std::size_t i = 0; i < a.pki.size(); ++i) {
    EXPECT_EQ(a.pki[i].name, b.pki[i].name);
    EXPECT_EQ(a.pki[i].certs, b.pki[i].certs);
    EXPECT_EQ(a.pki[i].keys, b.pki[i].keys);
  }
  ASSERT_EQ(a.listeners.size(), b.listeners.size());
  for (std::size_t i = 0; i < a.listeners.size(); ++i) {
    EXPECT_EQ(a.listeners[i].address, b.listeners[i].address);
    EXPECT_EQ(a.listeners[i].port, b.listeners[i].port);
    EXPECT_EQ(a.listeners[i].tls, b.listeners[i].tls);
    EXPECT_EQ(a.listeners[i].role, b.listeners[i].role);
    EXPECT_EQ(a.listeners[i].pki, b.listeners[i].pki);
  }
  EXPECT_EQ(a.local_domains, b.local_domains);
  ASSERT_EQ(a.mailboxes.size(), b.mailboxes.size());
  for (std::size_t i = 0; i < a.mailboxes.size(); ++i) {
    EXPECT_EQ(a.mailboxes[i].address, b.mailboxes[i].address);
    EXPECT_EQ(a.mailboxes[i].maildir, b.mailboxes[i].maildir);
    EXPECT_EQ(a.mailboxes[i].lmtp.text(), b.mailboxes[i].lmtp.text());
  }
  EXPECT_EQ(a.delivery.lmtp.text(), b.delivery.lmtp.text());
  EXPECT_EQ(a.delivery.lmtp_timeout, b.delivery.lmtp_timeout);
  EXPECT_EQ(a.limits.max_message_size, b.limits.max_message_size);
  EXPECT_EQ(a.limits.max_recipients, b.limits.max_recipients);
  EXPECT_EQ(a.limits.max_bad_commands, b.limits.max_bad_commands);
  EXPECT_EQ(a.limits.idle_timeout, b.limits.idle_timeout);
  EXPECT_EQ(a.limits.session_timeout, b.limits.session_timeout);
  EXPECT_EQ(a.limits.tls_handshake_timeout, b.limits.tls_handshake_timeout);
  EXPECT_EQ(a.limits.max_connections, b.limits.max_connections);
  EXPECT_EQ(a.limits.max_connections_per_ip, b.limits.max_connections_per_ip);
  EXPECT_EQ(a.accounts.file, b.accounts.file);
  EXPECT_EQ(a.accounts.scram_iterations, b.accounts.scram_iterations);
  EXPECT_EQ(a.accounts.expose_user, b.accounts.expose_user);
  EXPECT_EQ(a.auth.delay_after, b.auth.delay_after);
  EXPECT_EQ(a.auth.lockout_after, b.auth.lockout_after);
  EXPECT_EQ(a.auth.lockout, b.auth.lockout);
  EXPECT_EQ(a.auth.max_delay, b.auth.max_delay);
  EXPECT_EQ(a.auth.window, b.auth.window);
}

TEST(ConfigLoader, ToTomlRoundTripsAnUnsetAccountsFile) {
  Config c = embedded_default("/var/lib/sealpost");
  c.accounts.file.clear();
  std::string text = to_toml(c);
  EXPECT_NE(text.find("[accounts]\n# file unset"), std::string::npos) << text;
  expect_same(c, load_string(text, "printed.toml", "/"));
}

TEST(ConfigLoader, ToTomlRoundTripsAFile) {
  Config first = load_string(kFull, "full.toml", "/etc/sealpost");
  std::string text = to_toml(first);
  Config second = load_string(text, "printed.toml", "/elsewhere");  // all paths now absolute
  expect_same(first, second);
  std::string again = to_toml(second);
  auto body = [](const std::string& s) { return s.substr(s.find('\n')); };  // skip the source
  EXPECT_EQ(body(again), body(text));
}

TEST(ConfigLoader, LmtpTargetsLoadAndRoundTrip) {
  std::string text = std::string(kFull) +
                     "\n[delivery]\nlmtp = \"unix:run/lmtp\"\nlmtp_timeout = 60\n"
                     "\n[[mailbox]]\naddress = \"lmtp@example.org\"\nlmtp = \"[::1]:24\"\n";
  Config c = load_string(text, "full.toml", "/etc/sealpost");
  EXPECT_EQ(c.delivery.lmtp.socket, fs::path("/etc/sealpost/run/lmtp"));
  EXPECT_EQ(c.delivery.lmtp.text(), "unix:/etc/sealpost/run/lmtp");
  EXPECT_EQ(c.delivery.lmtp_timeout, std::chrono::seconds(60));
  const Mailbox& m = c.mailboxes.back();
  EXPECT_EQ(m.lmtp.address, "::1");
  EXPECT_EQ(m.lmtp.port, 24);
  EXPECT_EQ(m.lmtp.text(), "[::1]:24");
  EXPECT_TRUE(c.mailboxes.front().lmtp.empty());
  expect_same(c, load_string(to_toml(c), "printed.toml", "/"));
}

TEST(ConfigLoader, ToTomlRoundTripsTheEmbeddedDefault) {
  Config first = embedded_default("/var/lib/sealpost");
  std::string text = to_toml(first);
  EXPECT_NE(text.find("max_message_size = "), std::string::npos);  // defaults are printed
  EXPECT_NE(text.find("threads = 0"), std::string::npos);
  expect_same(first, load_string(text, "printed.toml", "/"));
}

TEST(ConfigLoader, ToTomlEscapesStringsAndKeys) {
  Config c = embedded_default("/tmp/odd \"dir\"\\x");
  c.pki[0].name = "odd name.with dot";
  for (Listener& l : c.listeners) l.pki = {"odd name.with dot"};
  c.listeners[0].address = "::";
  Config back = load_string(to_toml(c), "printed.toml", "/");
  expect_same(c, back);
}

TEST(ConfigLoader, ExampleFileLoads) {
  fs::path example = fs::path(SEALPOST_SOURCE_DIR) / "docs" / "examples" / "sealpost.toml";
  Config c = load_file(example);
  EXPECT_EQ(c.source, example);
  EXPECT_FALSE(c.listeners.empty());
  EXPECT_FALSE(c.mailboxes.empty());
  expect_same(c, load_string(to_toml(c), "printed.toml", "/"));
}

// sealpost.toml(5) promises that its EXAMPLES load as they stand.
TEST(ConfigLoader, ManPageExamplesLoad) {
  std::ifstream in(fs::path(SEALPOST_SOURCE_DIR) / "docs" / "sealpost.toml.5");
  std::stringstream man;
  man << in.rdbuf();
  std::string text = man.str();
  std::size_t pos = text.find("\n.SH EXAMPLES\n");
  ASSERT_NE(pos, std::string::npos);
  int examples = 0;
  while ((pos = text.find("\n.nf\n", pos)) != std::string::npos) {
    std::size_t begin = pos + 5;
    std::size_t end = text.find("\n.fi\n", begin);
    ASSERT_NE(end, std::string::npos);
    std::string example = text.substr(begin, end - begin + 1);
    SCOPED_TRACE(example);
    Config c = load_string(example, "example", "/tmp/example");
    EXPECT_FALSE(c.listeners.empty());
    ++examples;
    pos = end;
  }
  EXPECT_EQ(examples, 4);
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "sealpost-config-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(ConfigLoader, LoadFileResolvesAgainstItsDirectory) {
  TempDir dir;
  fs::path file = dir.path() / "sealpost.toml";
  std::ofstream(file) << R"(state_dir = "st"
[pki.a]
cert = "c.pem"
key = "/abs/k.pem"
[[listen]]
address = "127.0.0.1:465"
tls = "implicit"
role = "submission"
pki = ["a"]
)";
  Config c = load_file(file);
  EXPECT_EQ(c.state_dir, dir.path() / "st");
  EXPECT_EQ(c.pki[0].certs[0], dir.path() / "c.pem");
  EXPECT_EQ(c.pki[0].keys[0], "/abs/k.pem");
  EXPECT_TRUE(c.postmaster.empty());
}

TEST(ConfigLoader, LoadFileMissing) {
  try {
    load_file("/nonexistent/sealpost.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "/nonexistent/sealpost.toml");
    EXPECT_STREQ(e.what(), "/nonexistent/sealpost.toml: cannot open the file");
  }
}

}  // namespace
}  // namespace sealpost::config
