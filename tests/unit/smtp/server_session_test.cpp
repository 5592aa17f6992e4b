// ServerSession: greeting, EHLO/HELO, command sequencing and syntax, MAIL/RCPT parameters and
// addresses, pipelining, line limits, error limits, timeouts, shutdown, STARTTLS.
// DATA, BDAT and SMTP smuggling are in server_session_content_test.cpp.
#include "smtp/server_session.hpp"

#include <gtest/gtest.h>

#include <string>

#include "session_harness.hpp"

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;
using testing::begin;
using testing::expect;
using testing::expect_exact;
using testing::expect_output;
using testing::expect_replies;
using testing::Harness;
using testing::ready;
using testing::run_bytewise;
using testing::test_settings;

SessionSettings with_starttls() {
  SessionSettings s = test_settings();
  s.starttls_offered = true;
  return s;
}

SessionSettings require_starttls() {
  SessionSettings s = with_starttls();
  s.tls_required = true;
  return s;
}

TlsFacts tls13() { return TlsFacts{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "mx.test"}; }

// ---- Greeting, EHLO, HELO -------------------------------------------------------------------

TEST(ServerSessionGreeting, Sends220WithHostname) {
  Harness h;
  EXPECT_EQ(h.greeting, "220 mx.test ESMTP Sealpost\r\n");
  EXPECT_EQ(h.session.action(), Action::kNone);
}

TEST(ServerSessionEhlo, AdvertisesAllExtensions) {
  Harness h;
  expect_exact(h, "EHLO client.test\r\n",
               "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n"
               "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 DSN\r\n");
}

TEST(ServerSessionEhlo, AdvertisesStartTlsOnlyWhenOffered) {
  Harness h(with_starttls());
  expect_exact(h, "EHLO client.test\r\n",
               "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n"
               "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n"
               "250 STARTTLS\r\n");
}

TEST(ServerSessionEhlo, NoStartTlsInsideImplicitTls) {
  Harness h(with_starttls(), tls13());
  std::string out = h.send("EHLO client.test\r\n");
  EXPECT_EQ(out.find("STARTTLS"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("250-DSN\r\n250 REQUIRETLS\r\n")) << out;
}

TEST(ServerSessionEhlo, VerbIsCaseInsensitive) {
  Harness h;
  expect(h, "ehlo client.test\r\n", "250-mx.test");
  expect(h, "eHlO client.test\r\n", "250-mx.test");
}

TEST(ServerSessionEhlo, AcceptsAddressLiterals) {
  Harness h;
  expect(h, "EHLO [192.0.2.1]\r\n", "250-mx.test");
  expect(h, "EHLO [IPv6:2001:db8::1]\r\n", "250-mx.test");
}

TEST(ServerSessionEhlo, RejectsBadNames) {
  Harness h;
  for (std::string bad :
       {"EHLO\r\n"s, "EHLO \r\n"s, "EHLO a b\r\n"s, "EHLO exa$mple.test\r\n"s,
        "EHLO exa@mple.test\r\n"s, "EHLO [300.1.1.1]\r\n"s, "EHLO [not-an-ip]\r\n"s,
        "EHLO [IPv6:zz::1]\r\n"s, "EHLO \xff\xfe\r\n"s, "EHLO " + std::string(256, 'a') + "\r\n"}) {
    SCOPED_TRACE(testing::printable(bad));
    expect(h, bad, "501 5.5.4 Syntax: EHLO hostname");
  }
  // Still no HELO recorded: MAIL is refused.
  expect(h, "MAIL FROM:<a@example.org>\r\n", "503 5.5.1");
}

TEST(ServerSessionEhlo, ResetsTransaction) {
  Harness h;
  begin(h);
  ready(h);
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
}

TEST(ServerSessionHelo, RepliesWithHostnameOnly) {
  Harness h;
  expect_exact(h, "HELO client.test\r\n", "250 mx.test\r\n");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
}

TEST(ServerSessionHelo, RejectsBadNames) {
  Harness h;
  expect(h, "HELO\r\n", "501 5.5.4 Syntax: HELO hostname");
  expect(h, "HELO a;b\r\n", "501 5.5.4 Syntax: HELO hostname");
}

// ---- Sequencing ---------------------------------------------------------------------------

TEST(ServerSessionSequence, MailBeforeEhlo) {
  Harness h;
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "503 5.5.1");
}

TEST(ServerSessionSequence, RcptAndDataBeforeEhlo) {
  Harness h;
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
  expect(h, "DATA\r\n", "503 5.5.1");
}

TEST(ServerSessionSequence, NestedMail) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "MAIL FROM:<bob@example.org>\r\n", "503 5.5.1 Nested MAIL command");
}

TEST(ServerSessionSequence, RcptBeforeMail) {
  Harness h;
  ready(h);
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1 Need MAIL command");
}

TEST(ServerSessionSequence, DataBeforeMail) {
  Harness h;
  ready(h);
  expect(h, "DATA\r\n", "503 5.5.1 Need MAIL command");
}

TEST(ServerSessionSequence, DataWithoutRecipients) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "DATA\r\n", "554 5.5.1 No valid recipients");
  expect(h, "RCPT TO:<nobody@localhost>\r\n", "550 5.1.1");
  expect(h, "DATA\r\n", "554 5.5.1 No valid recipients");
  // The transaction survives: a good recipient then DATA works.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect(h, "DATA\r\n", "354 ");
}

// ---- Simple commands ------------------------------------------------------------------------

TEST(ServerSessionCommands, UnknownCommand) {
  Harness h;
  expect_exact(h, "FOO bar\r\n", "500 5.5.2 Command not recognized\r\n");
  expect(h, "MAILX FROM:<a@b>\r\n", "500 5.5.2");
  expect(h, "\r\n", "500 5.5.2");
}

TEST(ServerSessionCommands, Vrfy) {
  Harness h;
  expect(h, "VRFY demo\r\n", "252 2.5.0");
  expect(h, "VRFY\r\n", "501 5.5.4");
}

TEST(ServerSessionCommands, Expn) {
  Harness h;
  expect(h, "EXPN staff\r\n", "502 5.5.1");
}

TEST(ServerSessionCommands, Help) {
  Harness h;
  expect(h, "HELP\r\n", "214 2.0.0");
  expect(h, "HELP MAIL\r\n", "214 2.0.0");
}

TEST(ServerSessionCommands, Noop) {
  Harness h;
  expect_exact(h, "NOOP\r\n", "250 2.0.0 Ok\r\n");
  expect(h, "NOOP anything at all\r\n", "250 2.0.0");
}

TEST(ServerSessionCommands, AuthNotEnabledOnListenerWithoutMechanisms) {
  Harness h;
  ready(h);
  expect(h, "AUTH PLAIN\r\n", "503 5.5.1 Authentication not enabled");
}

TEST(ServerSessionCommands, RsetClearsTransaction) {
  Harness h;
  begin(h);
  expect_exact(h, "RSET\r\n", "250 2.0.0 Ok\r\n");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
  expect(h, "DATA\r\n", "503 5.5.1");
  // HELO survives RSET (RFC 5321 §4.1.1.5).
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
}

TEST(ServerSessionCommands, RsetWithArgument) {
  Harness h;
  expect(h, "RSET now\r\n", "501 5.5.4");
}

TEST(ServerSessionCommands, RsetBeforeEhlo) {
  Harness h;
  expect(h, "RSET\r\n", "250 2.0.0");
}

TEST(ServerSessionCommands, QuitClosesAndIgnoresTheRest) {
  Harness h;
  expect_exact(h, "QUIT\r\nNOOP\r\n", "221 2.0.0 Bye\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
  EXPECT_EQ(h.send("NOOP\r\n"), "");
}

TEST(ServerSessionCommands, QuitInsideTransaction) {
  Harness h;
  begin(h);
  expect(h, "QUIT\r\n", "221 2.0.0");
  EXPECT_EQ(h.session.action(), Action::kClose);
  EXPECT_TRUE(h.queued.empty());
}

TEST(ServerSessionCommands, LogRecordsProtocolEvents) {
  Harness h;
  h.send("FOO\r\n");
  auto log = h.session.take_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], "unknown command: FOO");
  EXPECT_TRUE(h.session.take_log().empty());
}

// ---- MAIL and RCPT syntax -------------------------------------------------------------------

TEST(ServerSessionMail, SyntaxErrors) {
  Harness h;
  ready(h);
  expect(h, "MAIL\r\n", "501 5.5.4");
  expect(h, "MAIL TO:<a@example.org>\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:a@example.org\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<a@example.org\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<a@@example.org>\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<a..b@example.org>\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<a@-bad.example>\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<a@example.org>junk\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> =x\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:  <a@example.org>\r\n", "501 5.1.7");
  // None of the above opened a transaction.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
}

TEST(ServerSessionMail, KeywordCaseAndOptionalSpace) {
  Harness h;
  ready(h);
  expect(h, "mail from:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "rcpt to: <demo@localhost>\r\n", "250 2.1.5");
  expect(h, "RSET\r\n", "250");
  expect(h, "MAIL FROM: <alice@example.org>\r\n", "250 2.1.0");
}

TEST(ServerSessionRcpt, SyntaxErrors) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT\r\n", "501 5.5.4");
  expect(h, "RCPT FROM:<demo@localhost>\r\n", "501 5.5.4");
  expect(h, "RCPT TO:<>\r\n", "501 5.1.3");
  expect(h, "RCPT TO:demo@localhost\r\n", "501 5.1.3");
  expect(h, "RCPT TO:<demo>\r\n", "501 5.1.3");
  expect(h, "RCPT TO:<demo@localhost> XFOO=1\r\n", "555 5.5.4");
  expect(h, "RCPT TO:<demo@localhost>NOTIFY=NEVER\r\n", "501 5.5.4");
  expect(h, "RCPT TO:<demo@localhost>   \r\n", "250 2.1.5");
}

TEST(ServerSessionRcpt, PolicyVerdicts) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect_exact(h, "RCPT TO:<nobody@localhost>\r\n", "550 5.1.1 User unknown\r\n");
  expect_exact(h, "RCPT TO:<someone@elsewhere.example>\r\n", "554 5.7.1 Relay access denied\r\n");
  expect_exact(h, "RCPT TO:<busy@localhost>\r\n", "450 4.2.1 Mailbox busy, try later\r\n");
  expect(h, "RCPT TO:<Bob@LOCALHOST>\r\n", "250 2.1.5");
}

TEST(ServerSessionRcpt, MaxRecipients) {
  Harness h;  // max_recipients = 3
  begin(h);
  expect(h, "RCPT TO:<bob@localhost>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<carol@localhost>\r\n", "250 2.1.5");
  expect_exact(h, "RCPT TO:<dave@localhost>\r\n", "452 4.5.3 Too many recipients\r\n");
  expect(h, "DATA\r\n", "354");
  h.send("x\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].recipients,
            (std::vector<std::string>{"demo@localhost", "bob@localhost", "carol@localhost"}));
}

TEST(ServerSessionRcpt, DuplicateRecipientStoredOnce) {
  Harness h;
  begin(h);
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<bob@localhost>\r\n", "250 2.1.5");
  // Duplicates do not use up the recipient limit.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<carol@localhost>\r\n", "250 2.1.5");
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].recipients,
            (std::vector<std::string>{"demo@localhost", "bob@localhost", "carol@localhost"}));
}

// ---- MAIL parameters ------------------------------------------------------------------------

TEST(ServerSessionMailParams, Size) {
  Harness h;  // max_message_size = 10000
  ready(h);
  expect(h, "MAIL FROM:<a@example.org> SIZE=10000\r\n", "250 2.1.0");
  expect(h, "RSET\r\n", "250");
  expect(h, "MAIL FROM:<a@example.org> size=0\r\n", "250 2.1.0");
  expect(h, "RSET\r\n", "250");
  expect_exact(h, "MAIL FROM:<a@example.org> SIZE=10001\r\n",
               "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  expect(h, "MAIL FROM:<a@example.org> SIZE\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SIZE=\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SIZE=12k\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SIZE=-1\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SIZE=99999999999999999999999\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SIZE=1 SIZE=2\r\n", "501 5.5.4");
}

TEST(ServerSessionMailParams, Body) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<a@example.org> BODY=8BITMIME\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250");
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_TRUE(h.queued[0].body_8bit);
  expect(h, "MAIL FROM:<a@example.org> BODY=7BIT\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250");
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 2u);
  EXPECT_FALSE(h.queued[1].body_8bit);
  expect(h, "MAIL FROM:<a@example.org> body=8bitmime\r\n", "250 2.1.0");
  expect(h, "RSET\r\n", "250");
  // BINARYMIME (RFC 3030 §3) is not advertised.
  expect(h, "MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n", "555 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> BODY\r\n", "555 5.5.4");
}

TEST(ServerSessionMailParams, Smtputf8) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<a@example.org> SMTPUTF8\r\n", "250 2.1.0");
  expect(h, "RSET\r\n", "250");
  expect(h, "MAIL FROM:<a@example.org> SMTPUTF8=yes\r\n", "501 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SMTPUTF8 BODY=8BITMIME SIZE=10\r\n", "250 2.1.0");
}

TEST(ServerSessionMailParams, UnknownParameter) {
  Harness h;
  ready(h);
  expect_exact(h, "MAIL FROM:<a@example.org> FOO=bar\r\n",
               "555 5.5.4 Unsupported MAIL parameter FOO\r\n");
  expect(h, "MAIL FROM:<a@example.org> BY=120;R\r\n", "555 5.5.4");  // DELIVERBY: not offered
}

TEST(ServerSessionMailParams, NotAllowedAfterHelo) {
  Harness h;
  expect(h, "HELO client.test\r\n", "250 mx.test");
  expect(h, "MAIL FROM:<a@example.org> SIZE=10\r\n", "555 5.5.4");
  expect(h, "MAIL FROM:<a@example.org> SMTPUTF8\r\n", "555 5.5.4");
  expect(h, "MAIL FROM:<a@example.org>\r\n", "250 2.1.0");
}

// ---- Addresses ------------------------------------------------------------------------------

TEST(ServerSessionAddress, NonAsciiNeedsSmtputf8) {
  Harness h;
  ready(h);
  expect_exact(h, "MAIL FROM:<j\xc3\xb8rn@example.org>\r\n",
               "553 5.6.7 Non-ASCII sender address requires SMTPUTF8\r\n");
  expect(h,
         "MAIL FROM:<jorn@b\xc3\xbc"
         "cher.example>\r\n",
         "553 5.6.7");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@localhost>\r\n", "553 5.6.7");
}

TEST(ServerSessionAddress, NonAsciiAcceptedWithSmtputf8) {
  Harness h;
  ready(h);
  expect(h,
         "MAIL FROM:<j\xc3\xb8rn@b\xc3\xbc"
         "cher.example> SMTPUTF8\r\n",
         "250 2.1.0");
  expect(h, "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@localhost>\r\n", "250 2.1.5");
  h.send("DATA\r\nSubject: \xe4\xbd\xa0\xe5\xa5\xbd\r\n\r\nhi\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_TRUE(h.queued[0].smtputf8);
  EXPECT_EQ(h.queued[0].reverse_path,
            "j\xc3\xb8rn@b\xc3\xbc"
            "cher.example");
  EXPECT_EQ(h.queued[0].recipients[0], "\xe7\x94\xa8\xe6\x88\xb7@localhost");
}

TEST(ServerSessionAddress, InvalidUtf8RejectedEvenWithSmtputf8) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<j\xc3@example.org> SMTPUTF8\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<a@\xc0\xaf.example> SMTPUTF8\r\n", "501 5.1.7");
}

TEST(ServerSessionAddress, NullReversePath) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  h.send("DATA\r\nbounce\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].reverse_path, "");
  expect(h, "MAIL FROM:<> SIZE=100\r\n", "250 2.1.0");
}

TEST(ServerSessionAddress, PostmasterWithoutDomain) {
  Harness h;
  ready(h);
  // <Postmaster> is a forward-path only (RFC 5321 §4.1.1.3).
  expect(h, "MAIL FROM:<Postmaster>\r\n", "501 5.1.7");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<Postmaster>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<POSTMASTER>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<webmaster>\r\n", "501 5.1.3");
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  // "Postmaster" is case-insensitive (RFC 5321 §4.1.1.3), so the second is a duplicate.
  EXPECT_EQ(h.queued[0].recipients, (std::vector<std::string>{"Postmaster"}));
}

TEST(ServerSessionAddress, SourceRouteIsDropped) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<@relay.example:alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<@a.example,@b.example:demo@localhost>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<@:bob@localhost>\r\n", "501 5.1.3");
  expect(h, "RCPT TO:<@a.example,b.example:bob@localhost>\r\n", "501 5.1.3");
  expect(h, "RCPT TO:<@a.example bob@localhost>\r\n", "501 5.1.3");
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].reverse_path, "alice@example.org");
  EXPECT_EQ(h.queued[0].recipients, (std::vector<std::string>{"demo@localhost"}));
}

TEST(ServerSessionAddress, QuotedLocalParts) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<\"john doe\"@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<\"john doe\"@localhost>\r\n", "250 2.1.5");
  expect(h, "RCPT TO:<\"a>b\\\"c\"@elsewhere.example>\r\n", "554 5.7.1");
  expect(h, "RCPT TO:<\"unterminated@localhost>\r\n", "501 5.1.3");
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].reverse_path, "\"john doe\"@example.org");
  EXPECT_EQ(h.queued[0].recipients, (std::vector<std::string>{"\"john doe\"@localhost"}));
}

TEST(ServerSessionAddress, LocalPartLengthLimit) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<" + std::string(64, 'a') + "@example.org>\r\n", "250 2.1.0");
  expect(h, "RSET\r\n", "250");
  expect_exact(h, "MAIL FROM:<" + std::string(65, 'a') + "@example.org>\r\n",
               "501 5.1.7 Sender address too long\r\n");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect_exact(h, "RCPT TO:<" + std::string(65, 'a') + "@localhost>\r\n",
               "501 5.1.3 Recipient address too long\r\n");
}

TEST(ServerSessionAddress, PathLengthLimit) {
  Harness h;
  ready(h);
  // 256 octets including the brackets is the maximum (RFC 5321 §4.5.3.1.3).
  std::string domain = std::string(60, 'd') + "." + std::string(60, 'e') + "." +
                       std::string(60, 'f') + "." + std::string(6, 'g');  // 189 octets
  std::string ok = "<" + std::string(64, 'a') + "@" + domain + ">";
  ASSERT_EQ(ok.size(), 256u);
  expect(h, "MAIL FROM:" + ok + "\r\n", "250 2.1.0");
  expect(h, "RSET\r\n", "250");
  std::string too_long = "<" + std::string(64, 'a') + "@" + domain + "g>";
  expect(h, "MAIL FROM:" + too_long + "\r\n", "501 5.1.7 Sender address too long");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:" + too_long + "\r\n", "501 5.1.3 Recipient address too long");
}

TEST(ServerSessionAddress, AddressLiteralDomain) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<alice@[192.0.2.1]>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<bob@[IPv6:2001:db8::1]>\r\n", "554 5.7.1");
  expect(h, "RCPT TO:<bob@[192.0.2.999]>\r\n", "501 5.1.3");
}

// ---- Pipelining -----------------------------------------------------------------------------

TEST(ServerSessionPipelining, GroupAnsweredInOrderInOneOutput) {
  Harness h;
  ready(h);
  expect_replies(h,
                 "MAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
                 "RCPT TO:<nobody@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n",
                 {"250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", "354 "});
  expect(h, "Subject: hi\r\n\r\nbody\r\n.\r\n", "250 2.0.0 Ok: queued as Q1");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].recipients, (std::vector<std::string>{"demo@localhost", "bob@localhost"}));
}

TEST(ServerSessionPipelining, WholeSessionInOneReceive) {
  Harness h;
  expect_replies(h,
                 "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\n"
                 "RCPT TO:<demo@localhost>\r\nDATA\r\nfirst\r\n.\r\n"
                 "MAIL FROM:<bob@example.org>\r\nRCPT TO:<carol@localhost>\r\nDATA\r\n"
                 "second\r\n.\r\nQUIT\r\n",
                 {"250-mx.test", "250 2.1.0", "250 2.1.5", "354 ", "250 2.0.0 Ok: queued as Q1",
                  "250 2.1.0", "250 2.1.5", "354 ", "250 2.0.0 Ok: queued as Q2", "221 2.0.0"});
  ASSERT_EQ(h.queued.size(), 2u);
  EXPECT_EQ(h.queued[0].body, "first\r\n");
  EXPECT_EQ(h.queued[1].body, "second\r\n");
  EXPECT_EQ(h.queued[1].reverse_path, "bob@example.org");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionPipelining, ProcessingPausesDuringEnqueue) {
  Harness h;
  h.manual_enqueue = true;
  begin(h);
  expect(h, "DATA\r\n", "354");
  // Message end and the next command arrive together; the NOOP waits for the commit.
  EXPECT_EQ(h.send("x\r\n.\r\nNOOP\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kEnqueue);
  EXPECT_EQ(h.session.buffered(), 6u);
  Transaction t = h.session.take_transaction();
  EXPECT_EQ(t.body, "x\r\n");
  h.session.on_enqueued("Q9");
  expect_output(h.session.take_output(), {"250 2.0.0 Ok: queued as Q9", "250 2.0.0 Ok"});
  EXPECT_EQ(h.session.action(), Action::kNone);
}

// ---- Bare CR/LF and control characters in commands ----------------------------------------

TEST(ServerSessionCommandLine, BareCrIsNotALineEnd) {
  Harness h;
  ready(h);
  expect_exact(h, "NOOP\rMAIL FROM:<evil@example.org>\r\n",
               "500 5.5.2 Bare CR or LF in command line (RFC 5321 2.3.8)\r\n");
  // No MAIL was run.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
}

TEST(ServerSessionCommandLine, BareLfIsNotALineEnd) {
  Harness h;
  ready(h);
  expect(h, "NOOP\nMAIL FROM:<evil@example.org>\r\n", "500 5.5.2 Bare CR or LF");
  expect(h, "MAIL FROM:<alice@example.org>\nRCPT TO:<demo@localhost>\r\n", "500 5.5.2 Bare");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
}

TEST(ServerSessionCommandLine, CrCrLf) {
  Harness h;
  expect(h, "NOOP\r\r\n", "500 5.5.2 Bare CR or LF");
}

TEST(ServerSessionCommandLine, ControlCharacters) {
  Harness h;
  expect(h, "NOOP\x01\r\n", "500 5.5.2 Invalid character");
  expect(h, "NOOP\x7f\r\n", "500 5.5.2 Invalid character");
  expect(h, "NO\x00OP\r\n"s, "500 5.5.2 Invalid character");
  expect(h, "NOOP\tx\r\n", "500 5.5.2 Invalid character");
}

// ---- Line limits ----------------------------------------------------------------------------

TEST(ServerSessionLineLimit, CommandOf512OctetsIncludingCrlf) {
  Harness h;
  std::string line = "NOOP " + std::string(505, 'a');
  ASSERT_EQ(line.size() + 2, 512u);
  expect(h, line + "\r\n", "250 2.0.0");
  expect_exact(h, line + "a\r\n", "500 5.5.2 Line too long\r\n");
  expect(h, "NOOP\r\n", "250 2.0.0");
}

TEST(ServerSessionLineLimit, MailAndRcptMayUse4096) {
  Harness h;
  ready(h);
  std::string mail = "MAIL FROM:<alice@example.org>";
  mail += std::string(4094 - mail.size(), ' ');
  expect(h, mail + "\r\n", "250 2.1.0");
  std::string rcpt = "RCPT TO:<demo@localhost>";
  expect(h, rcpt + std::string(4095 - rcpt.size(), ' ') + "\r\n", "500 5.5.2 Line too long");
  expect(h, rcpt + std::string(4094 - rcpt.size(), ' ') + "\r\n", "250 2.1.5");
  expect(h, "RSET\r\n", "250");
  expect(h, mail + " \r\n", "500 5.5.2 Line too long");
}

TEST(ServerSessionLineLimit, EndlessLineIsDrainedWithBoundedBuffer) {
  Harness h;
  ready(h);
  std::string chunk(1024, 'X');
  for (int i = 0; i < 1024; ++i) {  // 1 MiB without a line end
    ASSERT_EQ(h.send(chunk), "");
    // The longest legal line is an AUTH line of 12288 octets (RFC 4954 §4).
    ASSERT_LE(h.session.buffered(), 12288u + chunk.size());
  }
  EXPECT_EQ(h.session.buffered(), 0u);
  expect_exact(h, "\r\n", "500 5.5.2 Line too long\r\n");
  expect(h, "NOOP\r\n", "250 2.0.0");
}

TEST(ServerSessionLineLimit, DrainEndsOnlyAtCrlf) {
  Harness h;
  ASSERT_EQ(h.send(std::string(5000, 'X')), "");
  // Bare LF and a CR not followed by LF do not end the over-long line.
  ASSERT_EQ(h.send("\nNOOP\r"), "");
  ASSERT_EQ(h.send("NOOP\r"), "");
  expect_replies(h, "\nNOOP\r\n", {"500 5.5.2 Line too long", "250 2.0.0"});
}

TEST(ServerSessionLineLimit, OverlongLineSameReplyWholeOrInPieces) {
  // An over-long line with another defect gets one "Line too long" either way.
  std::string line = "NOOP " + std::string(3000, 'a') + "\n" + std::string(3000, 'b') + "\r\n";
  Harness whole;
  std::string a = whole.send(line);
  Harness bytewise;
  std::string b = run_bytewise(bytewise, line);
  EXPECT_EQ(a, "500 5.5.2 Line too long\r\n");
  EXPECT_EQ(a, b);
}

// ---- Error and time limits ------------------------------------------------------------------

TEST(ServerSessionLimits, TooManyBadCommandsCloses) {
  SessionSettings s = test_settings();
  s.max_bad_commands = 3;
  Harness h(s);
  expect_replies(h, "FOO\r\nBAR\r\nBAZ\r\n", {"500", "500", "500"});
  EXPECT_EQ(h.session.action(), Action::kNone);
  expect_replies(h, "QUX\r\nNOOP\r\n", {"500 5.5.2", "421 4.7.0 mx.test Error: too many errors"});
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionLimits, RejectedRecipientsCountAsErrors) {
  SessionSettings s = test_settings();
  s.max_bad_commands = 2;
  Harness h(s);
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect_replies(h, "RCPT TO:<x@localhost>\r\nRCPT TO:<y@localhost>\r\nRCPT TO:<z@localhost>\r\n",
                 {"550 5.1.1", "550 5.1.1", "550 5.1.1", "421 4.7.0"});
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionLimits, IdleTimeout) {
  Harness h;
  ready(h);
  h.session.on_idle_timeout();
  EXPECT_EQ(h.session.take_output(), "421 4.4.2 mx.test Error: timeout exceeded\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionLimits, SessionExpired) {
  Harness h;
  begin(h);
  h.session.on_session_expired();
  EXPECT_EQ(h.session.take_output(), "421 4.4.2 mx.test Error: session time limit exceeded\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

// ---- Shutdown and enqueue results -----------------------------------------------------------

TEST(ServerSessionShutdown, IdleSessionClosesAtOnce) {
  Harness h;
  begin(h);
  h.session.on_shutdown();
  EXPECT_EQ(h.session.take_output(), "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionShutdown, SecondShutdownIsIgnored) {
  Harness h;
  h.session.on_shutdown();
  h.session.on_shutdown();
  expect_output(h.session.take_output(), {"421 4.3.2"});
}

TEST(ServerSessionShutdown, MessageInDataFinishesFirst) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  EXPECT_EQ(h.send("Subject: x\r\n"), "");
  h.session.on_shutdown();
  EXPECT_EQ(h.session.take_output(), "");
  EXPECT_EQ(h.session.action(), Action::kNone);
  expect_replies(h, "body\r\n.\r\nNOOP\r\n",
                 {"250 2.0.0 Ok: queued as Q1", "421 4.3.2 mx.test Service shutting down"});
  EXPECT_EQ(h.session.action(), Action::kClose);
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "Subject: x\r\nbody\r\n");
}

TEST(ServerSessionShutdown, DuringEnqueueThe250ComesFirst) {
  Harness h;
  h.manual_enqueue = true;
  begin(h);
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.session.action(), Action::kEnqueue);
  h.session.on_shutdown();
  EXPECT_EQ(h.session.action(), Action::kEnqueue);
  h.session.take_transaction();
  h.session.on_enqueued("Q7");
  expect_output(h.session.take_output(), {"250 2.0.0 Ok: queued as Q7", "421 4.3.2"});
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionShutdown, RejectedMessageThenClose) {
  // Regression: a shutdown during DATA must take effect even when the message is refused.
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  h.session.on_shutdown();
  expect_replies(h, "bare\nLF\r\n.\r\n", {"550 5.5.2", "421 4.3.2"});
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionShutdown, BetweenBdatChunks) {
  // Regression: a shutdown during a non-LAST chunk closes after that chunk's reply.
  Harness h;
  begin(h);
  EXPECT_EQ(h.send("BDAT 10\r\nabc"), "");
  h.session.on_shutdown();
  expect_replies(h, "defghij", {"250 2.0.0 Chunk accepted", "421 4.3.2"});
  EXPECT_EQ(h.session.action(), Action::kClose);
  EXPECT_TRUE(h.queued.empty());
}

TEST(ServerSessionEnqueue, FailureReplyPassedThrough) {
  Harness h;
  h.manual_enqueue = true;
  begin(h);
  h.send("DATA\r\nx\r\n.\r\nNOOP\r\n");
  ASSERT_EQ(h.session.action(), Action::kEnqueue);
  h.session.take_transaction();
  h.session.on_enqueue_failed(make_reply(452, "4.3.1", "Insufficient system storage"));
  expect_output(h.session.take_output(),
                {"452 4.3.1 Insufficient system storage\r\n", "250 2.0.0 Ok"});
  EXPECT_EQ(h.session.action(), Action::kNone);
  // The transaction is gone.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
}

TEST(ServerSessionEnqueue, TransactionCarriesTraceFacts) {
  Harness h(with_starttls(), tls13());
  begin(h);
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  const Transaction& t = h.queued[0];
  EXPECT_EQ(t.helo, "client.test");
  EXPECT_TRUE(t.esmtp);
  EXPECT_EQ(t.peer_address, "192.0.2.7");
  EXPECT_TRUE(t.tls.active);
  EXPECT_EQ(t.tls.version, "TLSv1.3");
  EXPECT_EQ(t.tls.bits, 256);
  EXPECT_EQ(t.reverse_path, "alice@example.org");
}

// ---- STARTTLS -------------------------------------------------------------------------------

TEST(ServerSessionStartTls, NormalHandshakeResetsEverything) {
  Harness h(with_starttls());
  ready(h);
  expect_exact(h, "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n");
  ASSERT_EQ(h.session.action(), Action::kStartTls);
  // Bytes offered while the handshake is pending are never read.
  EXPECT_EQ(h.send("NOOP\r\n"), "");
  h.session.on_tls_started(tls13());
  EXPECT_EQ(h.session.action(), Action::kNone);
  EXPECT_TRUE(h.session.tls_active());
  EXPECT_EQ(h.session.take_output(), "");
  // The pre-TLS EHLO is forgotten (RFC 3207 §4.2).
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "503 5.5.1");
  std::string ehlo = h.send("EHLO client.test\r\n");
  EXPECT_TRUE(ehlo.starts_with("250-mx.test\r\n")) << ehlo;
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos) << ehlo;
  expect(h, "STARTTLS\r\n", "503 5.5.1");
  EXPECT_EQ(h.session.action(), Action::kNone);
  begin(h);
  h.send("DATA\r\nx\r\n.\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_TRUE(h.queued[0].tls.active);
  EXPECT_EQ(h.queued[0].tls.cipher, "TLS_AES_256_GCM_SHA384");
}

TEST(ServerSessionStartTls, PipelinedCommandIsNeverAnswered) {
  // CVE-2011-0411: "STARTTLS\r\nNOOP\r\n" in one packet.
  Harness h(with_starttls());
  ready(h);
  std::string out = h.send("STARTTLS\r\nNOOP\r\n");
  expect_output(out, {"554 5.5.1"});
  EXPECT_EQ(out.find("250"), std::string::npos);
  EXPECT_EQ(h.session.action(), Action::kClose);
  EXPECT_EQ(h.session.buffered(), 0u);
}

TEST(ServerSessionStartTls, PipelinedMailIsNeverAnswered) {
  Harness h(with_starttls());
  std::string out = h.send("EHLO client.test\r\nSTARTTLS\r\nMAIL FROM:<evil@example.org>\r\n");
  expect_output(out, {"250-mx.test", "554 5.5.1"});
  EXPECT_EQ(out.find("2.1.0"), std::string::npos);
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionStartTls, NotOffered) {
  Harness h;
  ready(h);
  expect(h, "STARTTLS\r\n", "502 5.5.1");
  EXPECT_EQ(h.session.action(), Action::kNone);
}

TEST(ServerSessionStartTls, InsideImplicitTls) {
  Harness h(with_starttls(), tls13());
  ready(h);
  expect(h, "STARTTLS\r\n", "503 5.5.1 TLS already active");
}

TEST(ServerSessionStartTls, WithArgument) {
  Harness h(with_starttls());
  ready(h);
  expect(h, "STARTTLS now\r\n", "501 5.5.4");
}

TEST(ServerSessionStartTls, InsideTransaction) {
  Harness h(with_starttls());
  begin(h);
  expect(h, "STARTTLS\r\n", "503 5.5.1");
  EXPECT_EQ(h.session.action(), Action::kNone);
}

TEST(ServerSessionStartTls, BeforeEhloIsAllowed) {
  Harness h(with_starttls());
  expect(h, "STARTTLS\r\n", "220 2.0.0");
  EXPECT_EQ(h.session.action(), Action::kStartTls);
}

TEST(ServerSessionStartTls, HandshakeFailureCloses) {
  Harness h(with_starttls());
  ready(h);
  expect(h, "STARTTLS\r\n", "220 2.0.0");
  h.session.on_tls_failed();
  EXPECT_EQ(h.session.action(), Action::kClose);
  EXPECT_EQ(h.session.take_output(), "");
}

TEST(ServerSessionRequireTls, MailBeforeTlsRefused) {
  Harness h(require_starttls());
  ready(h);
  expect_exact(h, "MAIL FROM:<alice@example.org>\r\n",
               "530 5.7.0 Must issue a STARTTLS command first\r\n");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "530 5.7.0");
  expect(h, "DATA\r\n", "530 5.7.0");
  expect(h, "VRFY demo\r\n", "530 5.7.0");
  expect(h, "EXPN demo\r\n", "530 5.7.0");
  expect(h, "NOOP\r\n", "250 2.0.0");
  expect(h, "HELP\r\n", "214");
  expect(h, "RSET\r\n", "250");
  expect(h, "STARTTLS\r\n", "220 2.0.0");
  h.session.on_tls_started(tls13());
  begin(h);
}

TEST(ServerSessionRequireTls, BdatBeforeTlsConsumesItsChunk) {
  // Regression: a refused BDAT must still swallow its octets, or the chunk runs as commands.
  Harness h(require_starttls());
  ready(h);
  std::string chunk = "RSET\r\nNOOP\r\n";
  expect_replies(h, "BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk + "QUIT\r\n",
                 {"530 5.7.0", "221 2.0.0"});
  EXPECT_TRUE(h.queued.empty());
}

}  // namespace
}  // namespace sealpost::smtp
