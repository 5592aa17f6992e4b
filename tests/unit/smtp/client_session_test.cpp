// ClientSession against scripted server replies: expect(c, "server says", "client answers").
// Covers the dialogue phases, PIPELINING (replies whole and byte by byte), STARTTLS policy and
// its attacks (stripping, response injection), AUTH, DATA/BDAT, SIZE, SMTPUTF8, 8BITMIME and
// per-recipient results.
#include "smtp/client_session.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "client_harness.hpp"

namespace sealpost::smtp {
namespace {

constexpr std::string_view kGreeting = "220 mx.test ESMTP\r\n";
constexpr std::string_view kEhloPlain =
    "250-mx.test\r\n250-SIZE 10000\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
    "250 SMTPUTF8\r\n";
constexpr std::string_view kEhloPipelining =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

using testing::escape;
using testing::expect;

ClientSettings test_settings() {
  ClientSettings s;
  s.helo_name = "client.test";
  s.tls = TlsMode::kImplicit;
  return s;
}

OutgoingMessage message(std::vector<std::string> rcpts = {"bob@example.org"},
                        std::string content = "Subject: hi\r\n\r\nHello\r\n") {
  return OutgoingMessage{"alice@example.org", std::move(rcpts), std::move(content), false, false};
}

using Client = testing::BasicClient<test_settings>;

// Greeting and EHLO with the given EHLO reply; returns what the client sends next.
std::string ready(Client& c, std::string_view ehlo = kEhloPlain,
                  std::source_location loc = std::source_location::current()) {
  expect(c, kGreeting, "EHLO client.test\r\n", loc);
  std::string out = c.server(ehlo);
  if (c.session.action() != ClientAction::kNone)
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line())) << c.session.failure().detail;
  return out;
}

// --- Plain dialogues ----------------------------------------------------------------------

TEST(ClientSession, OneMessageWithoutPipelining) {
  Client c;
  c.session.add_message(message({"bob@example.org", "carol@example.org"}));
  c.session.quit();
  EXPECT_EQ(c.session.take_output(), "");  // nothing before the greeting
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, kEhloPlain, "MAIL FROM:<alice@example.org> SIZE=22\r\n");
  expect(c, "250 2.1.0 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "RCPT TO:<carol@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go ahead\r\n", "Subject: hi\r\n\r\nHello\r\n.\r\n");
  expect(c, "250 2.0.0 Ok: queued as Q1\r\n", "QUIT\r\n");
  expect(c, "221 2.0.0 Bye\r\n", "");
  EXPECT_EQ(c.session.action(), ClientAction::kDone);
  ASSERT_EQ(c.session.results().size(), 1u);
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kDelivered);
  EXPECT_EQ(r.reason, FailureReason::kNone);
  EXPECT_EQ(r.reply.code, 250);
  EXPECT_EQ(r.reply.enhanced, "2.0.0");
  EXPECT_EQ(r.reply.lines.back(), "Ok: queued as Q1");
  ASSERT_EQ(r.recipients.size(), 2u);
  EXPECT_EQ(r.recipients[1].forward_path, "carol@example.org");
  EXPECT_EQ(r.recipients[1].outcome, Outcome::kDelivered);
  EXPECT_EQ(c.session.failure().reason, FailureReason::kNone);
}

TEST(ClientSession, QuitWithoutMessages) {
  Client c;
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, kEhloPlain, "QUIT\r\n");
  expect(c, "221 Bye\r\n", "");
  EXPECT_EQ(c.session.action(), ClientAction::kDone);
}

TEST(ClientSession, MessagesAddedLaterAndIdleWithoutQuit) {
  Client c;
  ready(c);
  c.session.add_message(message());
  EXPECT_EQ(c.session.take_output(), "MAIL FROM:<alice@example.org> SIZE=22\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "Subject: hi\r\n\r\nHello\r\n.\r\n");
  expect(c, "250 Ok\r\n", "");  // idle: no quit() yet
  EXPECT_EQ(c.session.action(), ClientAction::kNone);
  c.session.add_message(message({"dave@example.org"}, "x\r\n"));
  EXPECT_EQ(c.session.take_output(), "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<dave@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "x\r\n.\r\n");
  expect(c, "250 Ok\r\n", "");
  c.session.quit();
  EXPECT_EQ(c.session.take_output(), "QUIT\r\n");
  EXPECT_EQ(c.session.results()[1].outcome, Outcome::kDelivered);
}

TEST(ClientSession, NullReversePathAndMultiLineFinalReply) {
  OutgoingMessage m = message();
  m.reverse_path = "";
  Client d;
  d.session.add_message(m);
  expect(d, kGreeting, "EHLO client.test\r\n");
  expect(d, "250 mx.test\r\n", "MAIL FROM:<>\r\n");  // EHLO without extensions: no parameters
  expect(d, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(d, "250 Ok\r\n", "DATA\r\n");
  expect(d, "354 Go\r\n", "Subject: hi\r\n\r\nHello\r\n.\r\n");
  expect(d, "250-2.0.0 Ok\r\n250 2.0.0 queued as Q7\r\n", "");
  EXPECT_EQ(d.session.results()[0].reply.lines, (std::vector<std::string>{"Ok", "queued as Q7"}));
}

// --- PIPELINING (RFC 2920) ------------------------------------------------------------------

// The server's replies for a pipelined one-message session, one element per read.
struct Step {
  std::string server;
  std::string client;
};

std::vector<Step> pipelined_script() {
  return {
      {std::string(kGreeting), "EHLO client.test\r\n"},
      {std::string(kEhloPipelining),
       "MAIL FROM:<alice@example.org> SIZE=22\r\nRCPT TO:<bob@example.org>\r\n"
       "RCPT TO:<carol@example.org>\r\nRCPT TO:<dave@example.org>\r\nDATA\r\n"},
      {"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n450 4.2.1 Busy\r\n"
       "354 End data with <CR><LF>.<CR><LF>\r\n",
       "Subject: hi\r\n\r\nHello\r\n.\r\n"},
      {"250 2.0.0 Ok: queued as Q1\r\n", "QUIT\r\n"},
      {"221 2.0.0 Bye\r\n", ""},
  };
}

void check_pipelined_results(const ClientSession& s) {
  EXPECT_EQ(s.action(), ClientAction::kDone);
  const TransactionResult& r = s.results().at(0);
  EXPECT_EQ(r.outcome, Outcome::kDelivered);
  ASSERT_EQ(r.recipients.size(), 3u);
  EXPECT_EQ(r.recipients[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(r.recipients[0].reply.lines.back(), "Ok: queued as Q1");
  EXPECT_EQ(r.recipients[1].outcome, Outcome::kPermFail);
  EXPECT_EQ(r.recipients[1].reply.enhanced, "5.1.1");
  EXPECT_EQ(r.recipients[2].outcome, Outcome::kTempFail);
  EXPECT_EQ(r.recipients[2].reply.code, 450);
}

TEST(ClientSession, PipelinedGroupRepliesInOneChunk) {
  Client c;
  c.session.add_message(message({"bob@example.org", "carol@example.org", "dave@example.org"}));
  c.session.quit();
  for (const Step& s : pipelined_script()) expect(c, s.server, s.client);
  check_pipelined_results(c.session);
}

TEST(ClientSession, PipelinedGroupRepliesByteByByte) {
  Client c;
  c.session.add_message(message({"bob@example.org", "carol@example.org", "dave@example.org"}));
  c.session.quit();
  for (const Step& s : pipelined_script()) {
    std::string out;
    for (char ch : s.server) out += c.server(std::string_view(&ch, 1));
    EXPECT_EQ(out, s.client) << escape(s.server);
  }
  check_pipelined_results(c.session);
}

TEST(ClientSession, PipelinedAllRecipientsRefusedDataRefused) {
  Client c;
  c.session.add_message(message({"bob@example.org", "carol@example.org"}));
  c.session.quit();
  ready(c, kEhloPipelining);
  expect(c, "250 Ok\r\n550 5.1.1 No\r\n450 4.2.1 Later\r\n554 5.5.1 No valid recipients\r\n",
         "QUIT\r\n");
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.reason, FailureReason::kAllRecipientsRejected);
  EXPECT_EQ(r.outcome, Outcome::kTempFail);  // one recipient may yet succeed
  EXPECT_EQ(r.recipients[0].outcome, Outcome::kPermFail);
  EXPECT_EQ(r.recipients[1].outcome, Outcome::kTempFail);
}

// RFC 2920 §3.1: a 354 although no recipient was accepted: send "." alone, ignore its reply.
TEST(ClientSession, PipelinedUnwantedDataGetsAnEmptyMessage) {
  Client c;
  c.session.add_message(message());
  c.session.quit();
  ready(c, kEhloPipelining);
  expect(c, "250 Ok\r\n550 5.1.1 No\r\n354 Go ahead\r\n", ".\r\n");
  expect(c, "250 Ok, an empty message\r\n", "QUIT\r\n");  // QUIT discards it: no RSET
  EXPECT_EQ(c.session.results()[0].reason, FailureReason::kAllRecipientsRejected);
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kPermFail);
}

TEST(ClientSession, PipelinedSenderRefused) {
  Client c;
  c.session.add_message(message({"bob@example.org", "carol@example.org"}));
  c.session.quit();
  ready(c, kEhloPipelining);
  expect(c,
         "553 5.7.1 Not your address\r\n503 5.5.1 Need MAIL\r\n503 5.5.1 Need MAIL\r\n"
         "503 5.5.1 Need MAIL\r\n",
         "QUIT\r\n");  // no transaction is open: no RSET
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.reason, FailureReason::kSenderRejected);
  EXPECT_EQ(r.outcome, Outcome::kPermFail);
  EXPECT_EQ(r.reply.code, 553);
  for (const auto& rr : r.recipients) {
    EXPECT_EQ(rr.reply.code, 553);  // the MAIL reply decided, not the 503s
    EXPECT_EQ(rr.outcome, Outcome::kPermFail);
  }
}

TEST(ClientSession, PipeliningCanBeTurnedOff) {
  ClientSettings s = test_settings();
  s.use_pipelining = false;
  Client d(s);
  d.session.add_message(message());
  expect(d, kGreeting, "EHLO client.test\r\n");
  expect(d, kEhloPipelining, "MAIL FROM:<alice@example.org> SIZE=22\r\n");
}

// --- Failures of the session --------------------------------------------------------------

TEST(ClientSession, GreetingRefused) {
  for (std::string_view greeting : {"554 5.3.2 No service\r\n", "421 4.3.2 Busy\r\n"}) {
    Client c;
    c.session.add_message(message());
    expect(c, greeting, "QUIT\r\n");
    EXPECT_EQ(c.session.action(), ClientAction::kClose);
    EXPECT_EQ(c.session.failure().reason, FailureReason::kGreeting);
    const TransactionResult& r = c.session.results()[0];
    EXPECT_EQ(r.reason, FailureReason::kGreeting);
    EXPECT_EQ(r.outcome, greeting[0] == '5' ? Outcome::kPermFail : Outcome::kTempFail);
    EXPECT_EQ(r.recipients[0].outcome, r.outcome);
  }
}

TEST(ClientSession, MessageAddedAfterFailureFailsAtOnce) {
  Client c;
  expect(c, "554 No\r\n", "QUIT\r\n");
  std::size_t i = c.session.add_message(message());
  EXPECT_EQ(c.session.results()[i].reason, FailureReason::kGreeting);
  EXPECT_EQ(c.session.take_output(), "");
}

TEST(ClientSession, HeloFallbackOnlyWherePolicyAllows) {
  ClientSettings s = test_settings();
  s.tls = TlsMode::kNone;
  s.allow_helo_fallback = true;
  {
    Client c(s);
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "502 5.5.1 Command not implemented\r\n", "HELO client.test\r\n");
    expect(c, "250 mx.test\r\n", "MAIL FROM:<alice@example.org>\r\n");  // no parameters
    EXPECT_FALSE(c.session.capabilities().esmtp);
  }
  {
    Client c(s);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "500 What?\r\n", "HELO client.test\r\n");
    expect(c, "550 No\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kHeloRejected);
  }
  {
    Client c(s);  // 550 is a refusal, not "EHLO unknown"
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "550 5.7.1 Go away\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kHeloRejected);
  }
  s.tls = TlsMode::kRequireStartTls;  // HELO cannot do STARTTLS
  {
    Client c(s);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "502 Command not implemented\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kHeloRejected);
  }
  s.allow_helo_fallback = false;
  s.tls = TlsMode::kNone;
  {
    Client c(s);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "502 Command not implemented\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kHeloRejected);
  }
}

TEST(ClientSession, UnsolicitedReplies) {
  {
    Client c;
    ready(c);
    expect(c, "421 4.3.2 Shutting down\r\n", "");
    EXPECT_EQ(c.session.action(), ClientAction::kClose);
    EXPECT_EQ(c.session.failure().reason, FailureReason::kServerClosed);
    EXPECT_EQ(c.session.failure().reply.code, 421);
  }
  {
    Client c;
    ready(c);
    expect(c, "250 Ok\r\n", "");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
  }
}

TEST(ClientSession, ReplyBeforeItsCommandIsRefused) {
  Client c;
  c.session.add_message(message());
  // A server (or a man in the middle) answering EHLO before it was sent.
  expect(c, std::string(kGreeting) + "250 mx.test\r\n", "");
  EXPECT_EQ(c.session.action(), ClientAction::kClose);
  EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kTempFail);
}

TEST(ClientSession, MalformedReplyIsAProtocolError) {
  for (std::string_view bad : {"250 ok\n", "250-a\r\n251 b\r\n", "hello\r\n", "250 \x01\r\n"}) {
    Client c;
    ready(c);
    c.session.add_message(message());
    c.session.take_output();
    expect(c, bad, "");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError) << escape(bad);
    EXPECT_EQ(c.session.action(), ClientAction::kClose);
  }
}

TEST(ClientSession, UnexpectedPositiveRepliesAreProtocolErrors) {
  Client c;
  c.session.add_message(message());
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "250 Ok\r\n", "");  // DATA needs 354
  EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
}

TEST(ClientSession, ServerClosesOrTimesOut) {
  {
    Client c;
    c.session.add_message(message());
    ready(c);
    c.session.on_closed();
    EXPECT_EQ(c.session.action(), ClientAction::kClose);
    EXPECT_EQ(c.session.failure().reason, FailureReason::kServerClosed);
    EXPECT_EQ(c.session.results()[0].reason, FailureReason::kServerClosed);
    EXPECT_EQ(c.session.results()[0].outcome, Outcome::kTempFail);
  }
  {
    Client c;
    EXPECT_EQ(c.session.timeout(), std::chrono::minutes(5));  // RFC 5321 §4.5.3.2 greeting
    c.session.on_timeout();
    EXPECT_EQ(c.session.failure().reason, FailureReason::kTimeout);
    EXPECT_EQ(c.session.take_output(), "");
  }
  {
    Client c;  // after QUIT, silence or EOF is the end we wanted
    c.session.quit();
    EXPECT_EQ(ready(c), "QUIT\r\n");
    c.session.on_closed();
    EXPECT_EQ(c.session.action(), ClientAction::kDone);
    EXPECT_EQ(c.session.failure().reason, FailureReason::kNone);
  }
}

TEST(ClientSession, TimeoutsFollowRfc5321) {
  Client c;
  c.session.add_message(message());
  ready(c);
  EXPECT_EQ(c.session.timeout(), std::chrono::minutes(5));  // MAIL
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  EXPECT_EQ(c.session.timeout(), std::chrono::minutes(2));  // DATA initiation
  c.server("354 Go\r\n");
  EXPECT_EQ(c.session.timeout(), std::chrono::minutes(10));  // DATA termination
}

// --- STARTTLS (RFC 3207) --------------------------------------------------------------------

ClientSettings starttls_settings(TlsMode mode) {
  ClientSettings s = test_settings();
  s.tls = mode;
  return s;
}

TEST(ClientSession, StartTlsThenEhloAgainForgettingPlaintextCapabilities) {
  Client c(starttls_settings(TlsMode::kRequireStartTls));
  c.session.add_message(message({"bob@example.org"}, std::string(50, 'x') + "\r\n"));
  c.session.quit();
  EXPECT_FALSE(c.session.tls_active());
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250-SIZE 10\r\n250-PIPELINING\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
  expect(c, "220 2.0.0 Ready to start TLS\r\n", "");
  EXPECT_EQ(c.session.action(), ClientAction::kStartTls);
  c.session.on_tls_started();
  EXPECT_TRUE(c.session.tls_active());
  EXPECT_EQ(c.session.take_output(), "EHLO client.test\r\n");
  EXPECT_FALSE(c.session.capabilities().starttls);
  // Inside TLS the server offers no SIZE limit and no PIPELINING: the plaintext SIZE 10 is
  // forgotten, the 52-octet message goes, one command at a time.
  expect(c, "250-mx.test\r\n250 8BITMIME\r\n", "MAIL FROM:<alice@example.org>\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
}

// The downgrade: a man in the middle removes STARTTLS from the EHLO reply.
TEST(ClientSession, StartTlsStrippedWhileRequiredFailsWithoutMail) {
  Client c(starttls_settings(TlsMode::kRequireStartTls));
  c.session.add_message(message());
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250-PIPELINING\r\n250 XXXXXXXA\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.action(), ClientAction::kClose);
  EXPECT_EQ(c.session.failure().reason, FailureReason::kTlsRequiredNotOffered);
  EXPECT_EQ(c.session.results()[0].reason, FailureReason::kTlsRequiredNotOffered);
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kTempFail);  // defer, never plaintext
}

TEST(ClientSession, StartTlsResponseInjectionInTheSameRead) {
  for (std::string_view extra : {"250-mx.test\r\n250 AUTH PLAIN\r\n", "2", "\r\n"}) {
    Client c(starttls_settings(TlsMode::kRequireStartTls));
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
    expect(c, "220 Go ahead\r\n" + std::string(extra), "");
    EXPECT_EQ(c.session.action(), ClientAction::kClose) << escape(extra);
    EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
    EXPECT_FALSE(c.session.tls_active());
  }
}

TEST(ClientSession, StartTlsResponseInjectionReadBeforeTheHandshake) {
  Client c(starttls_settings(TlsMode::kRequireStartTls));
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
  expect(c, "220 Go ahead\r\n", "");
  ASSERT_EQ(c.session.action(), ClientAction::kStartTls);
  expect(c, "250 mx.test\r\n", "");  // a driver that read once more before handshaking
  EXPECT_EQ(c.session.action(), ClientAction::kClose);
  EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
  c.session.on_tls_started();  // too late: ignored
  EXPECT_FALSE(c.session.tls_active());
}

TEST(ClientSession, StartTlsRefusedOrHandshakeFailed) {
  {
    Client c(starttls_settings(TlsMode::kRequireStartTls));
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
    expect(c, "454 4.7.0 TLS not available\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kTlsFailed);
  }
  {
    Client c(starttls_settings(TlsMode::kRequireStartTls));
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
    expect(c, "220 Go ahead\r\n", "");
    c.session.on_tls_failed();
    EXPECT_EQ(c.session.action(), ClientAction::kClose);
    EXPECT_EQ(c.session.failure().reason, FailureReason::kTlsFailed);
    EXPECT_EQ(c.session.take_output(), "");  // no plaintext QUIT on a broken stream
  }
}

TEST(ClientSession, OpportunisticTlsContinuesInPlaintext) {
  {
    Client c(starttls_settings(TlsMode::kOpportunistic));
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
    expect(c, "454 4.7.0 TLS not available\r\n", "MAIL FROM:<alice@example.org>\r\n");
    EXPECT_FALSE(c.session.tls_active());
  }
  {
    Client c(starttls_settings(TlsMode::kOpportunistic));
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250 mx.test\r\n", "MAIL FROM:<alice@example.org>\r\n");
  }
  {
    Client c(starttls_settings(TlsMode::kNone));  // never STARTTLS
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "MAIL FROM:<alice@example.org>\r\n");
  }
  {
    Client c;  // implicit TLS: STARTTLS in the EHLO reply is ignored
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 STARTTLS\r\n", "MAIL FROM:<alice@example.org>\r\n");
  }
}

// --- AUTH (RFC 4954) ------------------------------------------------------------------------

// Answers challenges from a table; complete() once `completes_after` responses were given.
class FakeAuthenticator final : public ClientAuthenticator {
 public:
  std::optional<std::string> choose(const std::vector<std::string>& offered) override {
    seen_offered = offered;
    for (const auto& want : preference)
      for (const auto& m : offered)
        if (m == want) return want;
    return std::nullopt;
  }
  std::optional<std::string> initial_response() override { return initial; }
  std::optional<std::string> respond(std::string_view challenge) override {
    challenges.emplace_back(challenge);
    auto it = answers.find(std::string(challenge));
    if (it == answers.end()) return std::nullopt;
    ++responses;
    return it->second;
  }
  bool complete() const override { return responses >= completes_after; }
  std::string failure_detail() const override { return "fake detail"; }

  std::vector<std::string> preference{"PLAIN"};
  std::optional<std::string> initial = "AGRlbW8AcGFzcw==";
  std::map<std::string, std::string> answers;
  int completes_after = 0;
  int responses = 0;
  std::vector<std::string> seen_offered;
  std::vector<std::string> challenges;
};

TEST(ClientSession, AuthPlainWithInitialResponse) {
  FakeAuthenticator auth;
  Client c(test_settings(), &auth);
  c.session.add_message(message());
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250-AUTH LOGIN PLAIN\r\n250 8BITMIME\r\n",
         "AUTH PLAIN AGRlbW8AcGFzcw==\r\n");
  EXPECT_EQ(auth.seen_offered, (std::vector<std::string>{"LOGIN", "PLAIN"}));
  expect(c, "235 2.7.0 Authentication successful\r\n", "MAIL FROM:<alice@example.org>\r\n");
  EXPECT_TRUE(c.session.authenticated());
  EXPECT_EQ(c.session.auth_mechanism(), "PLAIN");
}

TEST(ClientSession, AuthScramLikeExchangeWithMutualProof) {
  FakeAuthenticator auth;
  auth.preference = {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"};
  auth.initial = "Y2xpZW50LWZpcnN0";
  auth.answers = {{"c2VydmVyLWZpcnN0", "Y2xpZW50LWZpbmFs"}, {"c2VydmVyLWZpbmFs", ""}};
  auth.completes_after = 2;
  Client c(test_settings(), &auth);
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH PLAIN SCRAM-SHA-256\r\n",
         "AUTH SCRAM-SHA-256 Y2xpZW50LWZpcnN0\r\n");
  expect(c, "334 c2VydmVyLWZpcnN0\r\n", "Y2xpZW50LWZpbmFs\r\n");
  expect(c, "334 c2VydmVyLWZpbmFs\r\n", "\r\n");  // server-final verified; empty response
  expect(c, "235 2.7.0 Ok\r\n", "QUIT\r\n");
  EXPECT_EQ(auth.challenges, (std::vector<std::string>{"c2VydmVyLWZpcnN0", "c2VydmVyLWZpbmFs"}));
}

// A server that says 235 without proving it knows the password (SCRAM server signature).
TEST(ClientSession, AuthSuccessWithoutMutualProofFails) {
  FakeAuthenticator auth;
  auth.preference = {"SCRAM-SHA-256"};
  auth.initial = "Y2xpZW50LWZpcnN0";
  auth.answers = {{"c2VydmVyLWZpcnN0", "Y2xpZW50LWZpbmFs"}};
  auth.completes_after = 2;
  Client c(test_settings(), &auth);
  c.session.add_message(message());
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH SCRAM-SHA-256\r\n", "AUTH SCRAM-SHA-256 Y2xpZW50LWZpcnN0\r\n");
  expect(c, "334 c2VydmVyLWZpcnN0\r\n", "Y2xpZW50LWZpbmFs\r\n");
  expect(c, "235 2.7.0 Ok\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthFailed);
  EXPECT_NE(c.session.failure().detail.find("fake detail"), std::string::npos);
  EXPECT_FALSE(c.session.authenticated());
  EXPECT_EQ(c.session.results()[0].reason, FailureReason::kAuthFailed);
}

TEST(ClientSession, AuthRefused) {
  FakeAuthenticator auth;
  Client c(test_settings(), &auth);
  c.session.add_message(message());
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH PLAIN\r\n", "AUTH PLAIN AGRlbW8AcGFzcw==\r\n");
  expect(c, "535 5.7.8 Authentication credentials invalid\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthFailed);
  EXPECT_EQ(c.session.failure().reply.enhanced, "5.7.8");
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kPermFail);
}

TEST(ClientSession, AuthNotOfferedOrNoAcceptableMechanism) {
  {
    FakeAuthenticator auth;
    Client c(test_settings(), &auth);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 8BITMIME\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthNotOffered);
  }
  {
    FakeAuthenticator auth;
    auth.preference = {"SCRAM-SHA-256"};
    Client c(test_settings(), &auth);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 AUTH CRAM-MD5 LOGIN\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthNotOffered);
    EXPECT_NE(c.session.failure().detail.find("CRAM-MD5 LOGIN"), std::string::npos);
  }
}

TEST(ClientSession, NoCredentialsInTheClear) {
  FakeAuthenticator auth;
  Client c(starttls_settings(TlsMode::kOpportunistic), &auth);
  c.session.add_message(message());
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH PLAIN\r\n", "QUIT\r\n");  // no STARTTLS offered
  EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthRequiresTls);
  EXPECT_TRUE(auth.seen_offered.empty());  // the authenticator was never asked
}

TEST(ClientSession, AuthAfterStartTlsUsesOnlyTheNewEhlo) {
  FakeAuthenticator auth;
  Client c(starttls_settings(TlsMode::kRequireStartTls), &auth);
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n", "STARTTLS\r\n");
  expect(c, "220 Go\r\n", "");
  c.session.on_tls_started();
  EXPECT_EQ(c.session.take_output(), "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH LOGIN\r\n", "QUIT\r\n");  // PLAIN was plaintext-only
  EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthNotOffered);
  EXPECT_EQ(auth.seen_offered, std::vector<std::string>{"LOGIN"});
}

TEST(ClientSession, AuthCancelledByTheMechanism) {
  FakeAuthenticator auth;
  auth.initial = std::nullopt;  // waits for a challenge, then has no answer to it
  Client c(test_settings(), &auth);
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH PLAIN\r\n", "AUTH PLAIN\r\n");
  expect(c, "334 Z2FyYmFnZQ==\r\n", "*\r\n");
  expect(c, "501 5.0.0 Authentication cancelled\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthFailed);
}

TEST(ClientSession, AuthEmptyAndOverLongInitialResponses) {
  {
    FakeAuthenticator auth;
    auth.initial = "";
    Client c(test_settings(), &auth);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 AUTH PLAIN\r\n", "AUTH PLAIN =\r\n");  // RFC 4954 §4
  }
  {
    FakeAuthenticator auth;
    auth.initial = std::string(600, 'A');
    Client c(test_settings(), &auth);
    expect(c, kGreeting, "EHLO client.test\r\n");
    // Over 512 octets: sent after the server's empty challenge instead.
    expect(c, "250-mx.test\r\n250 AUTH PLAIN\r\n", "AUTH PLAIN\r\n");
    expect(c, "334 \r\n", std::string(600, 'A') + "\r\n");
    EXPECT_TRUE(auth.challenges.empty());
  }
}

TEST(ClientSession, AuthResponseThatIsNotBase64IsNeverSent) {
  FakeAuthenticator auth;
  auth.initial = "AAAA\r\nMAIL FROM:<x@y>";
  Client c(test_settings(), &auth);
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 AUTH PLAIN\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kAuthFailed);
}

// --- Transactions -----------------------------------------------------------------------------

TEST(ClientSession, DotStuffing) {
  Client c;
  c.session.add_message(message({"bob@example.org"}, ".\r\n..two\r\n.three\r\nfour.\r\n"));
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "..\r\n...two\r\n..three\r\nfour.\r\n.\r\n");
}

TEST(ClientSession, MissingFinalCrlfIsAdded) {
  Client c;
  c.session.add_message(message({"bob@example.org"}, "no end"));
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, kEhloPlain, "MAIL FROM:<alice@example.org> SIZE=8\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "no end\r\n.\r\n");
}

TEST(ClientSession, BareLineEndsAndBadAddressesAreRefusedLocally) {
  struct Case {
    OutgoingMessage m;
    const char* why;
  };
  std::vector<Case> cases = {
      {message({"bob@example.org"}, "a\nb\r\n"), "bare LF"},
      {message({"bob@example.org"}, "a\r\n.\rb\r\n"), "bare CR"},
      {message({"bob@example.org>\r\nRCPT TO:<eve@evil.test"}), "injected RCPT"},
      {message({"bob"}), "no domain"},
      {message({}), "no recipients"},
      {OutgoingMessage{"alice@example.org> SIZE=1", {"bob@example.org"}, "x\r\n", false, false},
       "injected parameter"},
  };
  for (auto& tc : cases) {
    Client c;
    c.session.add_message(tc.m);
    c.session.quit();
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, kEhloPlain, "QUIT\r\n");  // nothing of the message was sent
    const TransactionResult& r = c.session.results()[0];
    EXPECT_EQ(r.reason, FailureReason::kInvalidMessage) << tc.why;
    EXPECT_EQ(r.outcome, Outcome::kPermFail) << tc.why;
  }
}

TEST(ClientSession, SenderRefusedThenNextMessageAfterNothing) {
  Client c;
  c.session.add_message(message());
  c.session.add_message(message({"carol@example.org"}, "2\r\n"));
  c.session.quit();
  EXPECT_EQ(ready(c), "MAIL FROM:<alice@example.org> SIZE=22\r\n");
  expect(c, "550 5.7.1 Not allowed\r\n", "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<carol@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "2\r\n.\r\n");
  expect(c, "250 Ok\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.results()[0].reason, FailureReason::kSenderRejected);
  EXPECT_EQ(c.session.results()[1].outcome, Outcome::kDelivered);
}

TEST(ClientSession, RecipientsFourXxVersusFiveXx) {
  Client c;
  c.session.add_message(message({"a@example.org", "b@example.org", "c@example.org"}));
  c.session.quit();
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<a@example.org>\r\n");
  expect(c, "450 4.2.1 Mailbox busy\r\n", "RCPT TO:<b@example.org>\r\n");
  expect(c, "550 5.1.1 User unknown\r\n", "RCPT TO:<c@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "Subject: hi\r\n\r\nHello\r\n.\r\n");
  expect(c, "250 2.0.0 Queued\r\n", "QUIT\r\n");
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kDelivered);
  EXPECT_EQ(r.recipients[0].outcome, Outcome::kTempFail);
  EXPECT_EQ(r.recipients[0].reply.enhanced, "4.2.1");
  EXPECT_EQ(r.recipients[1].outcome, Outcome::kPermFail);
  EXPECT_EQ(r.recipients[1].reply.enhanced, "5.1.1");
  EXPECT_EQ(r.recipients[2].outcome, Outcome::kDelivered);
}

TEST(ClientSession, AllRecipientsRefusedWithoutPipeliningSendsNoData) {
  Client c;
  c.session.add_message(message({"a@example.org", "b@example.org"}));
  c.session.add_message(message({"c@example.org"}, "x\r\n"));
  c.session.quit();
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<a@example.org>\r\n");
  expect(c, "550 5.1.1 No\r\n", "RCPT TO:<b@example.org>\r\n");
  expect(c, "551 5.1.6 Moved\r\n", "RSET\r\n");  // MAIL was accepted: clear it
  expect(c, "250 Ok\r\n", "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.reason, FailureReason::kAllRecipientsRejected);
  EXPECT_EQ(r.outcome, Outcome::kPermFail);
  EXPECT_EQ(r.reply.code, 551);
}

TEST(ClientSession, DataRefusedTemporarilyAndPermanently) {
  Client c;
  c.session.add_message(message());
  c.session.add_message(message());
  c.session.quit();
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "451 4.3.0 Try later\r\n", "RSET\r\n");
  expect(c, "250 Ok\r\n", "MAIL FROM:<alice@example.org> SIZE=22\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", "Subject: hi\r\n\r\nHello\r\n.\r\n");
  expect(c, "554 5.6.0 Content refused\r\n", "QUIT\r\n");  // QUIT discards it: no RSET
  EXPECT_EQ(c.session.results()[0].reason, FailureReason::kDataRejected);
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kTempFail);
  EXPECT_EQ(c.session.results()[1].reason, FailureReason::kDataRejected);
  EXPECT_EQ(c.session.results()[1].outcome, Outcome::kPermFail);
  EXPECT_EQ(c.session.results()[1].recipients[0].outcome, Outcome::kPermFail);
  EXPECT_EQ(c.session.results()[1].recipients[0].reply.code, 554);
}

TEST(ClientSession, RsetRefusedEndsTheSession) {
  Client c;
  c.session.add_message(message());
  c.session.add_message(message());
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "550 No\r\n", "RSET\r\n");
  expect(c, "500 What\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
  EXPECT_EQ(c.session.results()[1].reason, FailureReason::kProtocolError);
}

TEST(ClientSession, FourTwentyOneMidTransaction) {
  Client c;
  c.session.add_message(message({"a@example.org", "b@example.org"}));
  ready(c);
  expect(c, "250 Ok\r\n", "RCPT TO:<a@example.org>\r\n");
  expect(c, "550 5.1.1 No\r\n", "RCPT TO:<b@example.org>\r\n");
  expect(c, "421 4.3.2 Shutting down\r\n", "");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kServerClosed);
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kTempFail);
  EXPECT_EQ(r.recipients[0].outcome, Outcome::kPermFail);  // its own RCPT refusal stands
  EXPECT_EQ(r.recipients[1].outcome, Outcome::kTempFail);
}

// --- SIZE, 8BITMIME, SMTPUTF8, REQUIRETLS ---------------------------------------------------

TEST(ClientSession, SizeOverTheAnnouncedLimitIsNotSent) {
  Client c;
  c.session.add_message(message({"bob@example.org"}, std::string(200, 'x') + "\r\n"));
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 SIZE 100\r\n", "QUIT\r\n");
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.reason, FailureReason::kSizeExceeded);
  EXPECT_EQ(r.outcome, Outcome::kPermFail);
  EXPECT_EQ(r.reply.code, 0);  // decided here, not by the server
}

TEST(ClientSession, SizeRefusedByTheServer) {
  Client c;
  c.session.add_message(message());
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250-mx.test\r\n250 SIZE\r\n", "MAIL FROM:<alice@example.org> SIZE=22\r\n");
  expect(c, "552 5.3.4 Message too big\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.results()[0].reason, FailureReason::kSizeExceeded);
}

TEST(ClientSession, EightBitContent) {
  std::string content = "Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n";
  {
    Client c;
    c.session.add_message(message({"bob@example.org"}, content));
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, kEhloPlain, "MAIL FROM:<alice@example.org> SIZE=29 BODY=8BITMIME\r\n");
  }
  {
    Client c;
    c.session.add_message(message({"bob@example.org"}, content));
    c.session.quit();
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 PIPELINING\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.results()[0].reason, FailureReason::kEightBitUnsupported);
  }
}

TEST(ClientSession, SmtpUtf8) {
  OutgoingMessage m = message({"\xe7\x94\xa8\xe6\x88\xb7@example.org"});
  {
    Client c;
    c.session.add_message(m);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, kEhloPlain, "MAIL FROM:<alice@example.org> SIZE=22 SMTPUTF8\r\n");
    expect(c, "250 Ok\r\n", "RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@example.org>\r\n");
  }
  {
    Client c;
    c.session.add_message(m);
    c.session.quit();
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 8BITMIME\r\n", "QUIT\r\n");
    const TransactionResult& r = c.session.results()[0];
    EXPECT_EQ(r.reason, FailureReason::kSmtpUtf8Unsupported);
    EXPECT_EQ(r.outcome, Outcome::kPermFail);
    EXPECT_EQ(r.recipients[0].outcome, Outcome::kPermFail);
  }
  {
    Client c;  // UTF-8 in the header section only: the caller says so
    OutgoingMessage h = message({"bob@example.org"}, "Subject: \xc3\xa9t\xc3\xa9\r\n\r\nHello\r\n");
    h.smtputf8 = true;
    c.session.add_message(h);
    c.session.quit();
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 8BITMIME\r\n", "QUIT\r\n");
    const TransactionResult& r = c.session.results()[0];
    EXPECT_EQ(r.reason, FailureReason::kUtf8HeadersUnsupported);
    EXPECT_EQ(r.outcome, Outcome::kPermFail);
  }
}

// RFC 6531 §3.4: flagged SMTPUTF8 but all ASCII in the envelope and the header section (8-bit
// text in the body is 8BITMIME's business): the message goes without the parameter rather
// than bouncing, and with it to a server that offers SMTPUTF8.
TEST(ClientSession, SmtpUtf8FlagWithoutNeedIsDroppedForServersWithoutIt) {
  struct Case {
    std::string content;
    std::string ehlo;
    std::string mail;
  };
  const std::string without = "250-mx.test\r\n250 8BITMIME\r\n";
  const std::string with = "250-mx.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
  const std::string utf8_body = "Subject: hi\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n";
  for (const Case& k : {
           Case{utf8_body, without, "MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n"},
           Case{utf8_body, with, "MAIL FROM:<alice@example.org> BODY=8BITMIME SMTPUTF8\r\n"},
           // No header section at all: nothing in it needs SMTPUTF8.
           Case{"\r\n\xc3\xa9\r\n", without, "MAIL FROM:<alice@example.org> BODY=8BITMIME\r\n"},
       }) {
    OutgoingMessage m = message({"bob@example.org"}, k.content);
    m.smtputf8 = true;
    Client c;
    c.session.add_message(m);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, k.ehlo, k.mail);
  }
}

TEST(ClientSession, RequireTls) {
  OutgoingMessage m = message();
  m.require_tls = true;
  {
    Client c;
    c.session.add_message(m);
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 REQUIRETLS\r\n", "MAIL FROM:<alice@example.org> REQUIRETLS\r\n");
  }
  {
    Client c;
    c.session.add_message(m);
    c.session.quit();
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, kEhloPlain, "QUIT\r\n");
    EXPECT_EQ(c.session.results()[0].reason, FailureReason::kRequireTlsUnsupported);
    // RFC 8689 §7: the code registered for exactly this.
    EXPECT_EQ(c.session.results()[0].reply.code, 550);
    EXPECT_EQ(c.session.results()[0].reply.enhanced, "5.7.30");
  }
  {
    Client c(starttls_settings(TlsMode::kNone));
    c.session.add_message(m);
    c.session.quit();
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 REQUIRETLS\r\n", "QUIT\r\n");
    EXPECT_EQ(c.session.results()[0].reason, FailureReason::kRequireTlsUnsupported);
  }
}

// --- BDAT (RFC 3030) ------------------------------------------------------------------------

ClientSettings bdat_settings(std::size_t chunk, bool pipelining) {
  ClientSettings s = test_settings();
  s.use_chunking = true;
  s.bdat_chunk_size = chunk;
  s.use_pipelining = pipelining;
  return s;
}

TEST(ClientSession, BdatOneChunkAfterPipelinedRecipients) {
  Client c(bdat_settings(1 << 20, true));
  c.session.add_message(message({"bob@example.org"}, ".\r\nx\r\n"));
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, kEhloPipelining,
         "MAIL FROM:<alice@example.org> SIZE=6\r\nRCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n250 Ok\r\n", "BDAT 6 LAST\r\n.\r\nx\r\n");  // no dot-stuffing
  expect(c, "250 2.0.0 Queued\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kDelivered);
}

TEST(ClientSession, BdatChunksWithoutPipeliningOneAtATime) {
  Client c(bdat_settings(4, false));
  c.session.add_message(message({"bob@example.org"}, "abcdefgh\r\n"));
  c.session.quit();
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, kEhloPipelining, "MAIL FROM:<alice@example.org> SIZE=10\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "BDAT 4\r\nabcd");
  expect(c, "250 Ok\r\n", "BDAT 4\r\nefgh");
  expect(c, "250 Ok\r\n", "BDAT 2 LAST\r\n\r\n");
  expect(c, "250 Queued\r\n", "QUIT\r\n");
}

TEST(ClientSession, BdatPipelinedChunksAndAFailedOne) {
  Client c(bdat_settings(4, true));
  c.session.add_message(message({"bob@example.org"}, "abcdefgh\r\n"));
  c.session.quit();
  ready(c, kEhloPipelining);
  expect(c, "250 Ok\r\n250 Ok\r\n", "BDAT 4\r\nabcdBDAT 4\r\nefghBDAT 2 LAST\r\n\r\n");
  expect(c, "250 Ok\r\n452 4.3.1 Out of space\r\n", "");  // the LAST reply is still due
  expect(c, "503 5.5.1 Previous BDAT failed\r\n", "QUIT\r\n");
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.reason, FailureReason::kDataRejected);
  EXPECT_EQ(r.outcome, Outcome::kTempFail);
  EXPECT_EQ(r.reply.code, 452);
}

TEST(ClientSession, BdatEmptyMessageAndChunkingNotOffered) {
  {
    Client c(bdat_settings(4, true));
    c.session.add_message(message({"bob@example.org"}, ""));
    ready(c, kEhloPipelining);
    expect(c, "250 Ok\r\n250 Ok\r\n", "BDAT 0 LAST\r\n");
  }
  {
    Client c(bdat_settings(4, true));  // no CHUNKING: DATA
    c.session.add_message(message());
    expect(c, kGreeting, "EHLO client.test\r\n");
    expect(c, "250-mx.test\r\n250 PIPELINING\r\n",
           "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
  }
}

TEST(ClientSession, LogNamesTheEvents) {
  Client c(starttls_settings(TlsMode::kOpportunistic));
  c.session.add_message(message());
  expect(c, kGreeting, "EHLO client.test\r\n");
  expect(c, "250 mx.test\r\n", "MAIL FROM:<alice@example.org>\r\n");
  auto log = c.session.take_log();
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log[0].find("STARTTLS"), std::string::npos);
}

}  // namespace
}  // namespace sealpost::smtp
