// Tests that each validation failure in config_loader names the right line, key and reason.
// Each document is valid except for one thing; line numbers count from the R"( line.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "config/config_loader.hpp"

namespace sealpost::config {
namespace {

// Lines 1-9 of every document below: one pki set and one listener.
constexpr std::string_view kHead = R"(hostname = "mail.example.org"
[pki.main]
cert = "c.pem"
key = "k.pem"
[[listen]]
address = "127.0.0.1:465"
tls = "implicit"
role = "submission"
pki = ["main"]
)";

std::optional<ConfigError> error_of(std::string_view toml) {
  try {
    load_string(toml, "t.toml", "/base");
  } catch (const ConfigError& e) {
    return e;
  }
  return std::nullopt;
}

void expect_error(std::string_view tail, int line, const std::string& key,
                  const std::string& message_part) {
  std::string toml = std::string(kHead) + std::string(tail);
  std::optional<ConfigError> e = error_of(toml);
  ASSERT_TRUE(e.has_value()) << "accepted:\n" << toml;
  EXPECT_EQ(e->file(), "t.toml");
  EXPECT_EQ(e->line(), line) << e->what();
  EXPECT_EQ(e->key(), key) << e->what();
  EXPECT_NE(std::string(e->what()).find(message_part), std::string::npos) << e->what();
  std::string prefix = "t.toml:" + std::to_string(line) + ": " + (key.empty() ? "" : key + ": ");
  EXPECT_EQ(std::string(e->what()).substr(0, prefix.size()), prefix);
}

// For top-level keys, which must precede every table: `line` replaces kHead's line 1.
void expect_top_error(const std::string& line, const std::string& key,
                      const std::string& message_part) {
  std::string_view rest = kHead.substr(kHead.find('\n') + 1);
  std::optional<ConfigError> e = error_of(line + "\n" + std::string(rest));
  ASSERT_TRUE(e.has_value()) << "accepted: " << line;
  EXPECT_EQ(e->line(), 1) << e->what();
  EXPECT_EQ(e->key(), key) << e->what();
  EXPECT_NE(std::string(e->what()).find(message_part), std::string::npos) << e->what();
}

TEST(ConfigErrors, HeadIsValid) { EXPECT_FALSE(error_of(kHead).has_value()); }

TEST(ConfigErrors, UnknownTopLevelKey) {
  expect_error("[domains]\nlocal = []\n[routes]\nx = 1\n", 12, "routes", "unknown key");
}

TEST(ConfigErrors, UnknownKeyInListen) {
  expect_error(R"([[listen]]
address = "127.0.0.1:587"
tls = "starttls"
role = "submission"
pki = ["main"]
protocol = "smtp"
)",
               15, "listen[1].protocol", "unknown key");
}

TEST(ConfigErrors, FirstUnknownKeyInFileOrderIsReported) {
  // toml++ sorts keys; the error must still point at the first one the user wrote.
  expect_error("[limits]\nzzz = 1\naaa = 2\n", 11, "limits.zzz", "unknown key");
}

TEST(ConfigErrors, UnknownKeyInPki) {
  expect_error("[pki.other]\ncert = \"a\"\nkey = \"b\"\nchain = \"c\"\n", 13, "pki.other.chain",
               "unknown key");
}

TEST(ConfigErrors, BadTlsValue) {
  expect_error(R"([[listen]]
address = "127.0.0.1:587"
tls = "STARTTLS"
role = "submission"
pki = ["main"]
)",
               12, "listen[1].tls", "is not one of: implicit, starttls, require-starttls, none");
}

TEST(ConfigErrors, BadRole) {
  expect_error(R"([[listen]]
address = "127.0.0.1:587"
tls = "starttls"
role = "relay"
pki = ["main"]
)",
               13, "listen[1].role", "not one of");
}

void expect_bad_address(const std::string& address, const std::string& message_part) {
  SCOPED_TRACE(address);
  expect_error("[[listen]]\naddress = \"" + address +
                   "\"\ntls = \"starttls\"\nrole = \"mx\"\npki = [\"main\"]\n",
               11, "listen[1].address", message_part);
}

TEST(ConfigErrors, BadAddresses) {
  expect_bad_address("127.0.0.1", "expected \"IPv4:port\"");
  expect_bad_address("127.0.0.1:0", "between 1 and 65535");
  expect_bad_address("127.0.0.1:65536", "between 1 and 65535");
  expect_bad_address("127.0.0.1:", "not a number");
  expect_bad_address("127.0.0.1:25x", "not a number");
  expect_bad_address("256.0.0.1:25", "not an IPv4 address");
  expect_bad_address("localhost:25", "not an IPv4 address");
  expect_bad_address("::1:25", "IPv6 addresses go in brackets");
  expect_bad_address("[::1:25", "missing ']'");
  expect_bad_address("[::g]:25", "not an IPv6 address");
  expect_bad_address("[127.0.0.1]:25", "not an IPv6 address");
}

TEST(ConfigErrors, WrongType) {
  expect_top_error("threads = \"4\"", "threads", "expected an integer, got a string");
  expect_top_error("state_dir = 3", "state_dir", "expected a string, got an integer");
  expect_error("[limits]\nidle_timeout = 1.5\n", 11, "limits.idle_timeout",
               "expected an integer, got a float");
}

TEST(ConfigErrors, MissingPki) {
  expect_error(R"([[listen]]
address = "127.0.0.1:25"
tls = "starttls"
role = "mx"
)",
               10, "listen[1].pki", "needs at least one [pki.NAME]");
}

TEST(ConfigErrors, UndefinedPki) {
  expect_error(R"([[listen]]
address = "127.0.0.1:25"
tls = "starttls"
role = "mx"
pki = ["main", "nope"]
)",
               14, "listen[1].pki[1]", "no [pki.nope] is defined");
}

TEST(ConfigErrors, PkiWithoutTls) {
  expect_error(R"([[listen]]
address = "127.0.0.1:25"
tls = "none"
role = "mx"
pki = ["main"]
)",
               14, "listen[1].pki", "unused");
}

TEST(ConfigErrors, CertKeyMismatch) {
  expect_error("[pki.dual]\ncert = [\"a.pem\", \"b.pem\"]\nkey = \"a.key\"\n", 12, "pki.dual.key",
               "has 1 entries but cert has 2");
}

TEST(ConfigErrors, PkiMissingKey) {
  expect_error("[pki.dual]\ncert = \"a.pem\"\n", 10, "pki.dual.key", "missing required key");
}

TEST(ConfigErrors, EmptyPkiName) {
  expect_error("[pki.\"\"]\ncert = \"a.pem\"\nkey = \"a.key\"\n", 10, "pki.", "must not be empty");
}

TEST(ConfigErrors, DuplicateListener) {
  expect_error(R"([[listen]]
address = "127.0.0.1:0465"
tls = "starttls"
role = "mx"
pki = ["main"]
)",
               11, "listen[1].address", "127.0.0.1:465 is already used");
}

TEST(ConfigErrors, NoListener) {
  std::optional<ConfigError> e = error_of("hostname = \"x.example\"\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->key(), "listen");
  EXPECT_STREQ(e->what(), "t.toml: listen: at least one [[listen]] section is required");
}

TEST(ConfigErrors, MailboxInNonLocalDomain) {
  expect_error(R"([domains]
local = ["example.org"]
[[mailbox]]
address = "a@example.org"
[[mailbox]]
address = "b@example.com"
)",
               15, "mailbox[1].address", "domain \"example.com\" is not in domains.local");
}

TEST(ConfigErrors, MailboxSyntax) {
  const std::string head = "[domains]\nlocal = [\"example.org\"]\n[[mailbox]]\naddress = ";
  expect_error(head + "\"example.org\"\n", 13, "mailbox[0].address", "is not local@domain");
  expect_error(head + "\"a@b@example.org\"\n", 13, "mailbox[0].address", "is not local@domain");
  expect_error(head + "\"@example.org\"\n", 13, "mailbox[0].address", "invalid local part");
  expect_error(head + "\"a..b@example.org\"\n", 13, "mailbox[0].address", "invalid local part");
  expect_error(head + "\"a b@example.org\"\n", 13, "mailbox[0].address", "invalid local part");
}

TEST(ConfigErrors, DuplicateMailbox) {
  expect_error(R"([domains]
local = ["example.org"]
[[mailbox]]
address = "a@example.org"
[[mailbox]]
address = "A@Example.org"
)",
               15, "mailbox[1].address", "defined twice");
}

TEST(ConfigErrors, PostmasterNotAMailbox) {
  // Top-level keys precede the tables, so this one goes in front of kHead.
  std::string toml =
      "postmaster = \"b@example.org\"\n" + std::string(kHead) +
      "[domains]\nlocal = [\"example.org\"]\n[[mailbox]]\naddress = \"a@example.org\"\n";
  std::optional<ConfigError> e = error_of(toml);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line(), 1);
  EXPECT_EQ(e->key(), "postmaster");
  EXPECT_STREQ(e->what(), "t.toml:1: postmaster: \"b@example.org\" is not a [[mailbox]]");
}

TEST(ConfigErrors, LimitsMustBePositive) {
  expect_error("[limits]\nmax_recipients = 0\n", 11, "limits.max_recipients",
               "must be between 1 and");
  expect_error("[limits]\nidle_timeout = -5\n", 11, "limits.idle_timeout", "must be between 1 and");
  expect_error("[limits]\nsession_timeout = 100000000\n", 11, "limits.session_timeout",
               "must be between 1 and 604800");
}

TEST(ConfigErrors, BadTopLevelValues) {
  expect_top_error("hostname = \"mail_example org\"", "hostname", "not a valid domain name");
  expect_top_error("log_level = \"verbose\"", "log_level", "is not one of: trace, debug");
  expect_top_error("threads = -1", "threads", "must be between 0 and");
  expect_top_error("state_dir = \"\"", "state_dir", "must not be empty");
}

TEST(ConfigErrors, DuplicateLocalDomain) {
  expect_error("[domains]\nlocal = [\"a.example\",\n  \"A.example\"]\n", 12, "domains.local[1]",
               "listed twice");
}

TEST(ConfigErrors, ListenMustBeArrayOfTables) {
  std::optional<ConfigError> e = error_of("[listen]\naddress = \"127.0.0.1:25\"\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line(), 1);
  EXPECT_EQ(e->key(), "listen");
}

TEST(ConfigErrors, TomlSyntaxErrorHasItsLine) {
  std::optional<ConfigError> e = error_of("hostname = \"a.example\"\n\nthreads = = 3\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->file(), "t.toml");
  EXPECT_EQ(e->line(), 3);
  EXPECT_EQ(e->key(), "");
  EXPECT_EQ(std::string(e->what()).rfind("t.toml:3: ", 0), 0u) << e->what();
}

TEST(ConfigErrors, TomlDuplicateKeyIsASyntaxError) {
  std::optional<ConfigError> e = error_of("threads = 1\nthreads = 2\n");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->line(), 2);
}

TEST(ConfigErrors, AccountsValues) {
  expect_error("[accounts]\nfile = \"users\"\npassword = \"x\"\n", 12, "accounts.password",
               "unknown key");
  expect_error("[accounts]\nfile = \"\"\n", 11, "accounts.file", "must not be empty");
  expect_error("[accounts]\nscram_iterations = 4095\n", 11, "accounts.scram_iterations",
               "between 4096 and 10000000");
  expect_error("[accounts]\nexpose_user = \"yes\"\n", 11, "accounts.expose_user",
               "expected a boolean, got a string");
}

TEST(ConfigErrors, AuthThrottleValues) {
  expect_error("[auth]\nlockout_after = 0\n", 11, "auth.lockout_after", "between 1 and 100000");
  expect_error("[auth]\ndelay_after = -1\n", 11, "auth.delay_after", "between 0 and 100000");
  expect_error("[auth]\nmax_delay = 61\n", 11, "auth.max_delay", "between 0 and 60");
  expect_error("[auth]\nlockout = 0\n", 11, "auth.lockout", "between 1 and 604800");
  expect_error("[auth]\nwindow = 2592001\n", 11, "auth.window", "between 1 and 2592000");
  expect_error("[auth]\nwindow = 60\nlockuot = 5\n", 12, "auth.lockuot", "unknown key");
}

}  // namespace
}  // namespace sealpost::config

namespace sealpost::config {
namespace {

// [dns], [outbound], [queue]: remote delivery settings (issue 6).
TEST(ConfigErrors, DnsForwarders) {
  expect_error("[dns]\nforwarders = [\"127.0.0.1@53\", \"resolver.example\"]\n", 11,
               "dns.forwarders", "is not IP[@PORT]");
  expect_error("[dns]\nforwarders = [\"::1@0\"]\n", 11, "dns.forwarders", "port must be");
  expect_error("[dns]\nforwarders = [\"::1\"]\nuse_resolv_conf = true\n", 10, "dns.use_resolv_conf",
               "not both");
}

TEST(ConfigErrors, OutboundPolicies) {
  expect_error("[outbound]\ntls_policy = [\"dane\", \"tofu\"]\n", 11, "outbound.tls_policy",
               "\"tofu\" is not one of");
  expect_error("[outbound]\ntls_policy = []\n", 11, "outbound.tls_policy", "at least one");
  expect_error("[outbound]\nmx_port = 0\n", 11, "outbound.mx_port", "between 1 and 65535");
  expect_error("[[outbound.domain]]\nname = \"example.org\"\n", 10, "outbound.domain[0].tls_policy",
               "missing required key");
  expect_error(
      "[[outbound.domain]]\nname = \"example.org\"\ntls_policy = \"verify\"\n"
      "[[outbound.domain]]\nname = \"EXAMPLE.org\"\ntls_policy = \"dane\"\n",
      14, "outbound.domain[1].name", "listed twice");
}

TEST(ConfigOutbound, ConnectionReuse) {
  Config d = load_string(kHead, "d.toml", "/");
  EXPECT_EQ(d.outbound.connection_cache_time_limit.count(), 2);  // Postfix's default
  EXPECT_EQ(d.outbound.connection_reuse_time_limit.count(), 300);
  EXPECT_EQ(d.outbound.connection_reuse_count_limit, 100u);
  EXPECT_EQ(d.outbound.connection_cache_size, 100u);
  Config c = load_string(std::string(kHead) +
                             "[outbound]\nconnection_cache_time_limit = 0\n"
                             "connection_reuse_time_limit = 60\nconnection_reuse_count_limit = 7\n"
                             "connection_cache_size = 3\n",
                         "t.toml", "/");
  EXPECT_EQ(c.outbound.connection_cache_time_limit.count(), 0);  // reuse off
  Config again = load_string(to_toml(c), "again.toml", "/");
  EXPECT_EQ(again.outbound.connection_cache_time_limit.count(), 0);
  EXPECT_EQ(again.outbound.connection_reuse_time_limit.count(), 60);
  EXPECT_EQ(again.outbound.connection_reuse_count_limit, 7u);
  EXPECT_EQ(again.outbound.connection_cache_size, 3u);
  expect_error("[outbound]\nconnection_cache_time_limit = 301\n", 11,
               "outbound.connection_cache_time_limit", "between 0 and 300");
  expect_error("[outbound]\nconnection_reuse_count_limit = 0\n", 11,
               "outbound.connection_reuse_count_limit", "between 1");
  expect_error("[outbound]\nconnection_reuse = true\n", 11, "outbound.connection_reuse", "");
}

TEST(ConfigErrors, QueueTiming) {
  expect_error("[queue]\nfirst_retry = 600\nmax_retry = 60\n", 10, "queue.max_retry",
               "must not be shorter");
  expect_error("[queue]\nlifetime = 1\n", 11, "queue.lifetime", "between 60");
  expect_error("[queue]\ndelay_warning = -1\n", 11, "queue.delay_warning", "between 0");
  expect_error("[queue]\ndestination_concurrency = -1\n", 11, "queue.destination_concurrency",
               "between 0");
}

TEST(ConfigQueue, DestinationConcurrencyDefaultAndPrinted) {
  // Default 20, as Postfix's default_destination_concurrency_limit; 0 is no limit.
  EXPECT_EQ(load_string(kHead, "d.toml", "/").queue.destination_concurrency, 20u);
  Config off =
      load_string(std::string(kHead) + "[queue]\ndestination_concurrency = 0\n", "t.toml", "/");
  EXPECT_EQ(off.queue.destination_concurrency, 0u);
  EXPECT_NE(to_toml(off).find("\ndestination_concurrency = 0\n"), std::string::npos);
  EXPECT_EQ(load_string(to_toml(off), "again.toml", "/").queue.destination_concurrency, 0u);
}

TEST(ConfigQueue, DelayWarningDefaultAndPrinted) {
  // Default 4 hours (sealpost.toml(5) says why); 0 turns it off; a few seconds is allowed.
  EXPECT_EQ(load_string(kHead, "d.toml", "/").queue.delay_warning.count(), 4 * 3600);
  Config off = load_string(std::string(kHead) + "[queue]\ndelay_warning = 0\n", "t.toml", "/");
  EXPECT_EQ(off.queue.delay_warning.count(), 0);
  Config c = load_string(std::string(kHead) + "[queue]\ndelay_warning = 3\n", "t.toml", "/");
  EXPECT_EQ(c.queue.delay_warning.count(), 3);
  EXPECT_NE(to_toml(c).find("\ndelay_warning = 3\n"), std::string::npos);
  EXPECT_EQ(load_string(to_toml(off), "again.toml", "/").queue.delay_warning.count(), 0);
}

TEST(ConfigOutbound, ParsedAndPrinted) {
  std::string toml =
      std::string(kHead) +
      "[dns]\nforwarders = \"127.0.0.1@5353\"\ntrust_anchors = [\"lab.key\"]\n"
      "[outbound]\ntls_policy = [\"verify\"]\nmx_port = 2525\n"
      "[[outbound.domain]]\nname = \"Example.ORG\"\ntls_policy = [\"dane\", \"encrypt\"]\n"
      "[queue]\nfirst_retry = 5\nmax_retry = 30\nlifetime = 600\n";
  Config c = load_string(toml, "t.toml", "/base");
  EXPECT_EQ(c.dns.forwarders, std::vector<std::string>{"127.0.0.1@5353"});
  ASSERT_EQ(c.dns.trust_anchors.size(), 1u);
  EXPECT_EQ(c.dns.trust_anchors[0], std::filesystem::path("/base/lab.key"));
  EXPECT_EQ(c.outbound.tls_policy, std::vector<std::string>{"verify"});
  EXPECT_EQ(c.outbound.mx_port, 2525);
  ASSERT_EQ(c.outbound.domains.size(), 1u);
  EXPECT_EQ(c.outbound.domains[0].domain, "example.org");
  EXPECT_EQ(c.outbound.domains[0].policy, (std::vector<std::string>{"dane", "encrypt"}));
  EXPECT_EQ(c.queue.first_retry.count(), 5);
  EXPECT_EQ(c.queue.lifetime.count(), 600);
  // The printed effective configuration reads back to the same values.
  Config again = load_string(to_toml(c), "again.toml", "/");
  EXPECT_EQ(again.outbound.domains[0].policy, c.outbound.domains[0].policy);
  EXPECT_EQ(again.dns.trust_anchors, c.dns.trust_anchors);
  EXPECT_EQ(again.queue.max_retry.count(), 30);
  // Defaults: dane, mta-sts, may; port 25.
  Config d = load_string(kHead, "d.toml", "/base");
  EXPECT_EQ(d.outbound.tls_policy, (std::vector<std::string>{"dane", "mta-sts", "may"}));
  EXPECT_EQ(d.outbound.mx_port, 25);
}

// [delivery] lmtp (RFC 2033 local delivery): a unix socket or a numeric endpoint, nothing else.
TEST(ConfigErrors, DeliveryLmtp) {
  EXPECT_FALSE(error_of(std::string(kHead) + "[delivery]\nlmtp = \"unix:/run/dovecot/lmtp\"\n"));
  EXPECT_FALSE(error_of(std::string(kHead) + "[delivery]\nlmtp = \"[::1]:24\"\n"));
  expect_error("[delivery]\nlmtp = \"localhost:24\"\n", 11, "delivery.lmtp",
               "expected \"unix:/path\", \"IPv4:port\" or \"[IPv6]:port\"");
  expect_error("[delivery]\nlmtp = \"127.0.0.1\"\n", 11, "delivery.lmtp", "IPv4:port");
  expect_error("[delivery]\nlmtp = \"127.0.0.1:0\"\n", 11, "delivery.lmtp", "port must be");
  expect_error("[delivery]\nlmtp = \"unix:\"\n", 11, "delivery.lmtp", "needs a socket path");
  expect_error("[delivery]\nlmtp = \"unix:/" + std::string(120, 'x') + "\"\n", 11, "delivery.lmtp",
               "longer than 107 octets");
  expect_error("[delivery]\nlmtp_timeout = 0\n", 11, "delivery.lmtp_timeout", "between 1 and 3600");
  expect_error("[delivery]\nlmpt = \"unix:/x\"\n", 11, "delivery.lmpt", "unknown key");
  expect_error(
      "[domains]\nlocal = [\"example.org\"]\n[[mailbox]]\naddress = \"a@example.org\"\n"
      "maildir = \"/m\"\nlmtp = \"unix:/x\"\n",
      15, "mailbox[0].lmtp", "give maildir or lmtp, not both");
  expect_error(
      "[domains]\nlocal = [\"example.org\"]\n[[mailbox]]\naddress = \"a@example.org\"\n"
      "lmtp = \"mail.example.org:24\"\n",
      14, "mailbox[0].lmtp", "IPv4:port");
}

}  // namespace
}  // namespace sealpost::config
