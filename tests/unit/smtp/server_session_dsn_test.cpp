// ServerSession and the DSN extension (RFC 3461) and REQUIRETLS (RFC 8689): what is advertised
// where, MAIL and RCPT parameters accepted into the transaction, and every refusal (501 5.5.4
// with a log line, 550 5.7.30 for REQUIRETLS outside TLS).
#include <gtest/gtest.h>

#include <string>

#include "session_harness.hpp"

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;
using testing::begin;
using testing::expect;
using testing::Harness;
using testing::ready;
using testing::test_settings;

TlsFacts tls13() { return TlsFacts{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "mx.test"}; }

SessionSettings with_starttls() {
  SessionSettings s = test_settings();
  s.starttls_offered = true;
  return s;
}

bool logged(Harness& h, std::string_view text) {
  for (const auto& line : h.session.take_log())
    if (line.find(text) != std::string::npos) return true;
  return false;
}

// Sends a whole transaction and returns what was queued.
Transaction deliver(Harness& h, std::string_view mail,
                    std::initializer_list<std::string_view> rcpts) {
  expect(h, std::string(mail) + "\r\n", "250 2.1.0");
  for (auto r : rcpts) expect(h, std::string(r) + "\r\n", "250 2.1.5");
  expect(h, "DATA\r\n", "354");
  expect(h, "Subject: t\r\n\r\nx\r\n.\r\n", "250 2.0.0 Ok: queued as");
  EXPECT_FALSE(h.queued.empty());
  return h.queued.empty() ? Transaction{} : h.queued.back();
}

// ---- EHLO ----------------------------------------------------------------------------------

TEST(ServerSessionDsn, DsnOnEveryListenerRequireTlsOnlyInsideTls) {
  Harness plain;
  std::string out = plain.send("EHLO client.test\r\n");
  EXPECT_TRUE(out.ends_with("250 DSN\r\n")) << out;
  EXPECT_EQ(out.find("REQUIRETLS"), std::string::npos) << out;

  Harness implicit(test_settings(), tls13());
  out = implicit.send("EHLO client.test\r\n");
  EXPECT_NE(out.find("250-DSN\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("250 REQUIRETLS\r\n"), std::string::npos) << out;

  Harness starttls(with_starttls());
  out = starttls.send("EHLO client.test\r\n");
  EXPECT_EQ(out.find("REQUIRETLS"), std::string::npos) << out;
  expect(starttls, "STARTTLS\r\n", "220 2.0.0");
  starttls.session.on_tls_started(tls13());
  out = starttls.send("EHLO client.test\r\n");
  EXPECT_TRUE(out.ends_with("250-DSN\r\n250 REQUIRETLS\r\n")) << out;
}

// ---- MAIL: RET, ENVID, REQUIRETLS -----------------------------------------------------------

TEST(ServerSessionDsn, MailParametersReachTheTransaction) {
  Harness h(test_settings(), tls13());
  ready(h);
  Transaction t = deliver(h, "MAIL FROM:<alice@example.org> RET=hdrs ENVID=QQ+2B314159 REQUIRETLS",
                          {"RCPT TO:<demo@localhost>"});
  EXPECT_EQ(t.ret, Ret::kHdrs);
  EXPECT_EQ(t.envid, "QQ+314159");
  EXPECT_TRUE(t.requiretls);
  EXPECT_TRUE(t.recipient_dsn.empty());  // no RCPT parameters: nothing parallel to keep
}

TEST(ServerSessionDsn, NoParametersNoDsnFields) {
  Harness h;
  ready(h);
  Transaction t = deliver(h, "MAIL FROM:<alice@example.org>", {"RCPT TO:<demo@localhost>"});
  EXPECT_EQ(t.ret, Ret::kUnspecified);
  EXPECT_EQ(t.envid, "");
  EXPECT_FALSE(t.requiretls);
  EXPECT_TRUE(t.recipient_dsn.empty());
}

TEST(ServerSessionDsn, BadMailParametersAre501WithALogLine) {
  Harness h;
  ready(h);
  struct Case {
    std::string params, reply;
  } cases[] = {
      {"RET=FULLY", "501 5.5.4 Bad RET parameter (FULL or HDRS)"},
      {"RET", "501 5.5.4 RET parameter needs a value"},
      {"ENVID", "501 5.5.4 ENVID parameter needs a value"},
      {"ENVID=a+2", "501 5.5.4 Bad ENVID parameter (not xtext)"},
      {"ENVID=a+0Db", "501 5.5.4 Bad ENVID parameter (printable US-ASCII only)"},
      {"ENVID=" + std::string(101, 'e'), "501 5.5.4 ENVID parameter too long"},
      {"RET=FULL RET=HDRS", "501 5.5.4 Duplicate MAIL parameter RET"},
      {"ENVID=a envid=b", "501 5.5.4 Duplicate MAIL parameter ENVID"},
      {"REQUIRETLS=YES", "501 5.5.4 REQUIRETLS takes no value"},
  };
  for (const auto& c : cases) {
    expect(h, "MAIL FROM:<alice@example.org> " + c.params + "\r\n", c.reply);
    EXPECT_TRUE(logged(h, "MAIL parameter rejected")) << c.params;
    EXPECT_FALSE(h.session.in_transaction()) << c.params;
  }
  expect(h, "MAIL FROM:<alice@example.org> ENVID=" + std::string(100, 'e') + "\r\n", "250 2.1.0");
}

TEST(ServerSessionDsn, RequireTlsOutsideTlsIsRefused) {
  // RFC 8689 §2: only on a session that employs TLS; 5.7.30 is the code §7 registers.
  Harness h(with_starttls());
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org> REQUIRETLS\r\n",
         "550 5.7.30 REQUIRETLS support required");
  EXPECT_TRUE(logged(h, "REQUIRETLS outside TLS"));
  EXPECT_FALSE(h.session.in_transaction());
  // The same client after STARTTLS is served.
  expect(h, "STARTTLS\r\n", "220 2.0.0");
  h.session.on_tls_started(tls13());
  ready(h);
  Transaction t =
      deliver(h, "MAIL FROM:<alice@example.org> REQUIRETLS", {"RCPT TO:<demo@localhost>"});
  EXPECT_TRUE(t.requiretls);
}

TEST(ServerSessionDsn, DsnParametersAfterHeloAreRefused) {
  Harness h;
  expect(h, "HELO client.test\r\n", "250 mx.test");
  expect(h, "MAIL FROM:<alice@example.org> RET=FULL\r\n", "555 5.5.4");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost> NOTIFY=NEVER\r\n", "555 5.5.4");
}

// ---- RCPT: NOTIFY, ORCPT --------------------------------------------------------------------

TEST(ServerSessionDsn, RecipientParametersRunParallelToRecipients) {
  Harness h;
  ready(h);
  Transaction t =
      deliver(h, "MAIL FROM:<alice@example.org>",
              {"RCPT TO:<demo@localhost>",
               "RCPT TO:<bob@localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2B1@x.test",
               "RCPT TO:<carol@localhost> orcpt=UTF-8;c\\x{E4}rol@x.test notify=never"});
  ASSERT_EQ(t.recipients.size(), 3u);
  ASSERT_EQ(t.recipient_dsn.size(), 3u);
  EXPECT_EQ(t.recipient_dsn[0], RecipientDsn{});
  EXPECT_EQ(t.recipient_dsn[1],
            (RecipientDsn{kNotifySuccess | kNotifyFailure, "rfc822", "Bob+1@x.test"}));
  EXPECT_EQ(t.recipient_dsn[2], (RecipientDsn{kNotifyNever, "utf-8", "c\xc3\xa4rol@x.test"}));
}

TEST(ServerSessionDsn, DuplicateRecipientKeepsTheFirstParameters) {
  Harness h;
  ready(h);
  Transaction t = deliver(h, "MAIL FROM:<alice@example.org>",
                          {"RCPT TO:<demo@localhost> NOTIFY=DELAY",
                           "RCPT TO:<demo@LOCALHOST> NOTIFY=NEVER", "RCPT TO:<bob@localhost>"});
  ASSERT_EQ(t.recipients.size(), 2u);
  ASSERT_EQ(t.recipient_dsn.size(), 2u);
  EXPECT_EQ(t.recipient_dsn[0].notify, kNotifyDelay);
  EXPECT_EQ(t.recipient_dsn[1], RecipientDsn{});
}

TEST(ServerSessionDsn, BadRecipientParametersAre501WithALogLine) {
  Harness h;
  begin(h);
  struct Case {
    std::string params, reply;
  } cases[] = {
      {"NOTIFY=NEVER,SUCCESS", "501 5.5.4 Bad NOTIFY parameter (NEVER must be alone)"},
      {"NOTIFY=SUCCESS,SUCCESS", "501 5.5.4 Bad NOTIFY parameter (keyword repeated)"},
      {"NOTIFY=SOMETIMES", "501 5.5.4 Bad NOTIFY parameter"},
      {"NOTIFY", "501 5.5.4 NOTIFY parameter needs a value"},
      {"NOTIFY=NEVER NOTIFY=NEVER", "501 5.5.4 Duplicate RCPT parameter NOTIFY"},
      {"ORCPT=rfc822;a@b orcpt=rfc822;c@d", "501 5.5.4 Duplicate RCPT parameter ORCPT"},
      {"ORCPT=a@b", "501 5.5.4 Bad ORCPT parameter (addr-type;address)"},
      {"ORCPT=x400;a@b", "501 5.5.4 Unsupported ORCPT address type"},
      {"ORCPT=rfc822;a+0Db", "501 5.5.4 Bad ORCPT parameter (printable US-ASCII only)"},
      {"ORCPT=rfc822;" + std::string(494, 'o'), "501 5.5.4 ORCPT parameter too long"},
      {"ORCPT=utf-8;\\x{41}", "501 5.5.4 Bad ORCPT parameter (RFC 6533 utf-8 address)"},
  };
  for (const auto& c : cases) {
    expect(h, "RCPT TO:<bob@localhost> " + c.params + "\r\n", c.reply);
    EXPECT_TRUE(logged(h, "RCPT parameter rejected")) << c.params;
  }
  expect(h, "RCPT TO:<bob@localhost> XNOTIFY=1\r\n",
         "555 5.5.4 Unsupported RCPT parameter XNOTIFY");
  // The transaction survives refused recipients, and none of them was added.
  expect(h, "DATA\r\n", "354");
  expect(h, "x\r\n.\r\n", "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].recipients, std::vector<std::string>{"demo@localhost"});
  EXPECT_TRUE(h.queued[0].recipient_dsn.empty());
}

TEST(ServerSessionDsn, NextTransactionStartsWithoutDsnFields) {
  // DSN fields belong to the transaction: a new MAIL starts clean.
  Harness h;
  ready(h);
  deliver(h, "MAIL FROM:<alice@example.org> RET=FULL ENVID=one",
          {"RCPT TO:<demo@localhost> NOTIFY=SUCCESS"});
  Transaction t = deliver(h, "MAIL FROM:<alice@example.org>", {"RCPT TO:<demo@localhost>"});
  EXPECT_EQ(t.ret, Ret::kUnspecified);
  EXPECT_EQ(t.envid, "");
  EXPECT_TRUE(t.recipient_dsn.empty());
}

}  // namespace
}  // namespace sealpost::smtp
