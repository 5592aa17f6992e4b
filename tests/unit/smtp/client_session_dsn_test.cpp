// ClientSession and the DSN extension (RFC 3461): RET/ENVID on MAIL and NOTIFY/ORCPT on RCPT,
// xtext-encoded, only to a server that offers DSN; and REQUIRETLS (RFC 8689): sent where
// offered, else nothing is sent and every recipient fails with 550 5.7.30.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "smtp/client_session.hpp"

namespace sealpost::smtp {
namespace {

constexpr std::string_view kGreeting = "220 mx.test ESMTP\r\n";
constexpr std::string_view kEhloDsn = "250-mx.test\r\n250-DSN\r\n250 REQUIRETLS\r\n";
constexpr std::string_view kEhloDsnPipelining =
    "250-mx.test\r\n250-PIPELINING\r\n250-DSN\r\n250 REQUIRETLS\r\n";
constexpr std::string_view kEhloBare = "250-mx.test\r\n250 8BITMIME\r\n";

ClientSettings settings(TlsMode mode = TlsMode::kImplicit) {
  ClientSettings s;
  s.helo_name = "client.test";
  s.tls = mode;
  return s;
}

OutgoingMessage dsn_message() {
  OutgoingMessage m{"alice@example.org", {"bob@example.org", "carol@example.org"}, "x\r\n"};
  m.ret = Ret::kHdrs;
  m.envid = "id 1+2=3";
  m.recipient_dsn = {{kNotifySuccess | kNotifyDelay, "rfc822", "Bob+tag@example.org"},
                     {kNotifyNever, "utf-8", "c\xc3\xa4rol@example.org"}};
  return m;
}

// Runs greeting and EHLO; returns what the client sends next.
std::string after_ehlo(ClientSession& c, std::string_view ehlo) {
  c.receive(kGreeting);
  EXPECT_EQ(c.take_output(), "EHLO client.test\r\n");
  c.receive(ehlo);
  return c.take_output();
}

std::string reply(ClientSession& c, std::string_view bytes) {
  c.receive(bytes);
  return c.take_output();
}

TEST(ClientSessionDsn, ParametersGoToAServerThatOffersDsn) {
  ClientSession c(settings());
  c.add_message(dsn_message());
  c.quit();
  EXPECT_EQ(after_ehlo(c, kEhloDsn),
            "MAIL FROM:<alice@example.org> RET=HDRS ENVID=id+201+2B2+3D3\r\n");
  EXPECT_EQ(
      reply(c, "250 2.1.0 Ok\r\n"),
      "RCPT TO:<bob@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+2Btag@example.org\r\n");
  EXPECT_EQ(reply(c, "250 2.1.5 Ok\r\n"),
            "RCPT TO:<carol@example.org> NOTIFY=NEVER ORCPT=utf-8;c\\x{E4}rol@example.org\r\n");
  EXPECT_EQ(reply(c, "250 2.1.5 Ok\r\n"), "DATA\r\n");
  EXPECT_EQ(reply(c, "354 go\r\n"), "x\r\n.\r\n");
  EXPECT_EQ(reply(c, "250 2.0.0 Ok\r\n"), "QUIT\r\n");
  ASSERT_EQ(c.results().size(), 1u);
  EXPECT_EQ(c.results()[0].outcome, Outcome::kDelivered);
  EXPECT_TRUE(c.results()[0].dsn_passed_on);
}

TEST(ClientSessionDsn, PipelinedRecipientsCarryTheirParameters) {
  ClientSession c(settings());
  c.add_message(dsn_message());
  EXPECT_EQ(after_ehlo(c, kEhloDsnPipelining),
            "MAIL FROM:<alice@example.org> RET=HDRS ENVID=id+201+2B2+3D3\r\n"
            "RCPT TO:<bob@example.org> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;Bob+2Btag@example.org\r\n"
            "RCPT TO:<carol@example.org> NOTIFY=NEVER ORCPT=utf-8;c\\x{E4}rol@example.org\r\n"
            "DATA\r\n");
}

TEST(ClientSessionDsn, OmittedWhenTheServerLacksDsn) {
  ClientSession c(settings());
  c.add_message(dsn_message());
  EXPECT_EQ(after_ehlo(c, kEhloBare), "MAIL FROM:<alice@example.org>\r\n");
  EXPECT_EQ(reply(c, "250 2.1.0 Ok\r\n"), "RCPT TO:<bob@example.org>\r\n");
  EXPECT_EQ(reply(c, "250 2.1.5 Ok\r\n"), "RCPT TO:<carol@example.org>\r\n");
  EXPECT_EQ(reply(c, "250 2.1.5 Ok\r\n"), "DATA\r\n");
  EXPECT_EQ(reply(c, "354 go\r\n"), "x\r\n.\r\n");
  reply(c, "250 2.0.0 Ok\r\n");
  EXPECT_EQ(c.results()[0].outcome, Outcome::kDelivered);
  EXPECT_FALSE(c.results()[0].dsn_passed_on);  // the caller owes "relayed" DSNs
}

TEST(ClientSessionDsn, OnlyTheParametersGiven) {
  OutgoingMessage m{"", {"a@example.org", "b@example.org"}, "x\r\n"};
  m.recipient_dsn = {{}, {kNotifyFailure, "", ""}};
  ClientSession c(settings());
  c.add_message(m);
  EXPECT_EQ(after_ehlo(c, kEhloDsn), "MAIL FROM:<>\r\n");
  EXPECT_EQ(reply(c, "250 2.1.0 Ok\r\n"), "RCPT TO:<a@example.org>\r\n");
  EXPECT_EQ(reply(c, "250 2.1.5 Ok\r\n"), "RCPT TO:<b@example.org> NOTIFY=FAILURE\r\n");
}

TEST(ClientSessionDsn, OverlongOrcptIsLeftOut) {
  OutgoingMessage m{"a@example.org", {"b@example.org"}, "x\r\n"};
  // 100 four-byte characters: 400 octets of UTF-8, 900 characters as \x{1F600}.
  std::string longest;
  for (int i = 0; i < 100; ++i) longest += "\xf0\x9f\x98\x80";
  m.recipient_dsn = {{kNotifyFailure, "utf-8", longest + "@x"}};
  ClientSession c(settings());
  c.add_message(m);
  after_ehlo(c, kEhloDsn);
  EXPECT_EQ(reply(c, "250 2.1.0 Ok\r\n"), "RCPT TO:<b@example.org> NOTIFY=FAILURE\r\n");
}

TEST(ClientSessionDsn, ValuesThatCannotBeSentFailTheMessage) {
  auto check = [](OutgoingMessage m, std::string_view detail) {
    ClientSession c(settings());
    c.add_message(std::move(m));
    c.quit();
    EXPECT_EQ(after_ehlo(c, kEhloDsn), "QUIT\r\n");
    EXPECT_EQ(c.results()[0].reason, FailureReason::kInvalidMessage);
    EXPECT_EQ(c.results()[0].detail, detail);
  };
  OutgoingMessage m = dsn_message();
  m.recipient_dsn.pop_back();
  check(m, "DSN parameters do not match the recipients");
  m = dsn_message();
  m.envid = "line\r\nbreak";
  check(m, "ENVID not printable ASCII or too long");
  m = dsn_message();
  m.envid = std::string(34, '+');  // 102 characters as xtext
  check(m, "ENVID not printable ASCII or too long");
  m = dsn_message();
  m.recipient_dsn[0].orcpt =
      "b\xc3\xb6"
      "b@x";  // not rfc822 (ASCII)
  check(m,
        "bad ORCPT <b\xc3\xb6"
        "b@x>");
}

// ---- REQUIRETLS ---------------------------------------------------------------------------

OutgoingMessage requiretls_message() {
  OutgoingMessage m{"alice@example.org", {"bob@example.org", "carol@example.org"}, "x\r\n"};
  m.require_tls = true;
  return m;
}

TEST(ClientSessionRequireTls, SentWhenOffered) {
  ClientSession c(settings());
  c.add_message(requiretls_message());
  EXPECT_EQ(after_ehlo(c, kEhloDsn), "MAIL FROM:<alice@example.org> REQUIRETLS\r\n");
}

void expect_refused(ClientSession& c, std::string_view detail) {
  const TransactionResult& r = c.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kPermFail);
  EXPECT_EQ(r.reason, FailureReason::kRequireTlsUnsupported);
  EXPECT_EQ(r.detail, detail);
  EXPECT_EQ(r.reply.code, 550);
  EXPECT_EQ(r.reply.enhanced, "5.7.30");
  ASSERT_EQ(r.recipients.size(), 2u);
  for (const RecipientResult& rr : r.recipients) {
    EXPECT_EQ(rr.outcome, Outcome::kPermFail);
    EXPECT_EQ(rr.reply.code, 550);
    EXPECT_EQ(rr.reply.enhanced, "5.7.30");
    EXPECT_EQ(rr.reply.lines.back(), "REQUIRETLS support required");
  }
}

TEST(ClientSessionRequireTls, NotSentWhenNotOffered) {
  ClientSession c(settings());
  c.add_message(requiretls_message());
  c.add_message(OutgoingMessage{"alice@example.org", {"dave@example.org"}, "y\r\n"});
  c.quit();
  // Nothing of the first message goes out; the next one does.
  EXPECT_EQ(after_ehlo(c, kEhloBare), "MAIL FROM:<alice@example.org>\r\n");
  expect_refused(c, "server does not offer REQUIRETLS");
  EXPECT_EQ(reply(c, "250 2.1.0 Ok\r\n"), "RCPT TO:<dave@example.org>\r\n");
}

TEST(ClientSessionRequireTls, NotSentWithoutTls) {
  ClientSession c(settings(TlsMode::kNone));
  c.add_message(requiretls_message());
  c.quit();
  EXPECT_EQ(after_ehlo(c, kEhloDsn), "QUIT\r\n");
  expect_refused(c, "REQUIRETLS needs TLS");
}

}  // namespace
}  // namespace sealpost::smtp
