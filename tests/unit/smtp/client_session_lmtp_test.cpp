// ClientSession in LMTP mode (RFC 2033) against scripted server replies: LHLO, one reply per
// accepted recipient after the data (§4.2), a refused RCPT getting none, PIPELINING, DATA even
// where CHUNKING is offered, and a connection lost between the per-recipient replies.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "client_harness.hpp"
#include "smtp/client_session.hpp"

namespace sealpost::smtp {
namespace {

constexpr std::string_view kGreeting = "220 lmtp.test LMTP ready\r\n";
constexpr std::string_view kLhloPlain =
    "250-lmtp.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n";
constexpr std::string_view kLhloPipelining =
    "250-lmtp.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n"
    "250 CHUNKING\r\n";
constexpr std::string_view kContent = "Subject: hi\r\n\r\nHello\r\n";

ClientSettings lmtp_settings() {
  ClientSettings s;
  s.helo_name = "mta.test";
  s.tls = TlsMode::kNone;
  s.lmtp = true;
  return s;
}

using Client = testing::BasicClient<lmtp_settings>;
using testing::expect;

void add(Client& c, std::vector<std::string> rcpts) {
  c.session.add_message(
      OutgoingMessage{"alice@example.org", std::move(rcpts), std::string(kContent), false, false});
}

const RecipientResult& rcpt(const ClientSession& s, std::size_t i) {
  return s.results().at(0).recipients.at(i);
}

TEST(ClientSessionLmtp, LhloAndOneReplyPerRecipient) {
  Client c;
  add(c, {"bob@example.org", "carol@example.org", "dave@example.org"});
  c.session.quit();
  expect(c, kGreeting, "LHLO mta.test\r\n");
  expect(c, kLhloPlain, "MAIL FROM:<alice@example.org>\r\n");
  expect(c, "250 2.1.0 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "RCPT TO:<carol@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "RCPT TO:<dave@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", std::string(kContent) + ".\r\n");
  // One reply per recipient, in RCPT order; nothing is decided before the last.
  expect(c, "250 2.0.0 <bob@example.org> Saved\r\n", "");
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kPending);
  expect(c, "452 4.2.2 <carol@example.org> Mailbox full\r\n", "");
  expect(c, "550 5.1.1 <dave@example.org> User unknown\r\n", "QUIT\r\n");
  expect(c, "221 2.0.0 Bye\r\n", "");
  EXPECT_EQ(c.session.action(), ClientAction::kDone);
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kDelivered);  // at least one mailbox took it
  EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kDelivered);
  EXPECT_EQ(rcpt(c.session, 0).reply.code, 250);
  EXPECT_EQ(rcpt(c.session, 1).outcome, Outcome::kTempFail);
  EXPECT_EQ(rcpt(c.session, 1).reply.code, 452);
  EXPECT_EQ(rcpt(c.session, 1).reply.enhanced, "4.2.2");
  EXPECT_EQ(rcpt(c.session, 2).outcome, Outcome::kPermFail);
  EXPECT_EQ(rcpt(c.session, 2).reply.code, 550);
}

TEST(ClientSessionLmtp, RefusedRcptGetsNoReplyAfterData) {
  Client c;
  add(c, {"bob@example.org", "ghost@example.org", "carol@example.org"});
  c.session.quit();
  expect(c, kGreeting, "LHLO mta.test\r\n");
  expect(c, kLhloPlain, "MAIL FROM:<alice@example.org>\r\n");
  expect(c, "250 2.1.0 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "RCPT TO:<ghost@example.org>\r\n");
  expect(c, "550 5.1.1 No such user\r\n", "RCPT TO:<carol@example.org>\r\n");
  expect(c, "250 2.1.5 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", std::string(kContent) + ".\r\n");
  expect(c, "250 2.0.0 bob Saved\r\n", "");
  // The second reply is carol's (ghost was refused at RCPT and has none).
  expect(c, "451 4.3.0 carol Temporary failure\r\n", "QUIT\r\n");
  EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kDelivered);
  EXPECT_EQ(rcpt(c.session, 1).outcome, Outcome::kPermFail);
  EXPECT_EQ(rcpt(c.session, 1).reply.lines.back(), "No such user");
  EXPECT_EQ(rcpt(c.session, 2).outcome, Outcome::kTempFail);
  EXPECT_EQ(rcpt(c.session, 2).reply.code, 451);
}

TEST(ClientSessionLmtp, EveryRecipientRefusedAfterData) {
  Client c;
  add(c, {"bob@example.org", "carol@example.org"});
  c.session.quit();
  expect(c, kGreeting, "LHLO mta.test\r\n");
  expect(c, kLhloPlain, "MAIL FROM:<alice@example.org>\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<carol@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
  expect(c, "354 Go\r\n", std::string(kContent) + ".\r\n");
  expect(c, "552 5.2.2 Over quota\r\n", "");
  expect(c, "452 4.2.2 Over quota for now\r\n", "QUIT\r\n");
  const TransactionResult& r = c.session.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kTempFail);  // one of them may yet succeed
  EXPECT_EQ(r.reason, FailureReason::kDataRejected);
  EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kPermFail);
  EXPECT_EQ(rcpt(c.session, 1).outcome, Outcome::kTempFail);
}

// RFC 2920 with LMTP: the whole group at once, every reply in one chunk and byte by byte.
TEST(ClientSessionLmtp, PipelinedWholeAndByteByByte) {
  for (bool bytewise : {false, true}) {
    Client c;
    add(c, {"bob@example.org", "ghost@example.org", "carol@example.org"});
    c.session.quit();
    auto feed = [&](std::string_view s) {
      if (!bytewise) return c.server(s);
      std::string out;
      for (char ch : s) out += c.server(std::string_view(&ch, 1));
      return out;
    };
    EXPECT_EQ(feed(kGreeting), "LHLO mta.test\r\n");
    // CHUNKING is offered and use_chunking set, but LMTP sends DATA.
    EXPECT_EQ(feed(kLhloPipelining),
              "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.org>\r\n"
              "RCPT TO:<ghost@example.org>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n");
    EXPECT_EQ(feed("250 Ok\r\n250 Ok\r\n550 5.1.1 Unknown\r\n250 Ok\r\n354 Go\r\n"),
              std::string(kContent) + ".\r\n");
    EXPECT_EQ(feed("250 2.0.0 bob Saved\r\n250 2.0.0 carol Saved\r\n"), "QUIT\r\n");
    EXPECT_EQ(c.session.results()[0].outcome, Outcome::kDelivered);
    EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kDelivered);
    EXPECT_EQ(rcpt(c.session, 1).outcome, Outcome::kPermFail);
    EXPECT_EQ(rcpt(c.session, 2).outcome, Outcome::kDelivered);
    EXPECT_EQ(rcpt(c.session, 2).reply.lines.back(), "carol Saved");
  }
}

TEST(ClientSessionLmtp, NoBdatEvenWithChunking) {
  ClientSettings s = lmtp_settings();
  s.use_chunking = true;
  s.use_pipelining = false;
  Client c(s);
  add(c, {"bob@example.org"});
  expect(c, kGreeting, "LHLO mta.test\r\n");
  expect(c, kLhloPipelining, "MAIL FROM:<alice@example.org>\r\n");
  expect(c, "250 Ok\r\n", "RCPT TO:<bob@example.org>\r\n");
  expect(c, "250 Ok\r\n", "DATA\r\n");
}

// RFC 2033 §4.1: no HELO fallback, whatever the settings say.
TEST(ClientSessionLmtp, LhloRefusedHasNoHeloFallback) {
  ClientSettings s = lmtp_settings();
  s.allow_helo_fallback = true;
  Client c(s);
  add(c, {"bob@example.org"});
  expect(c, kGreeting, "LHLO mta.test\r\n");
  expect(c, "500 5.5.1 Unknown command\r\n", "QUIT\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kHeloRejected);
  EXPECT_EQ(c.session.failure().detail, "LHLO refused");
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kPermFail);
}

// The connection drops between the per-recipient replies: the answered keep their outcome,
// the others are temporary failures (the server may or may not have delivered them).
TEST(ClientSessionLmtp, ConnectionLostBetweenRecipientReplies) {
  for (int how = 0; how < 3; ++how) {
    Client c;
    add(c, {"bob@example.org", "carol@example.org", "dave@example.org"});
    c.session.quit();
    expect(c, kGreeting, "LHLO mta.test\r\n");
    c.server(kLhloPipelining);
    expect(c, "250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n354 Go\r\n",
           std::string(kContent) + ".\r\n");
    expect(c, "250 2.0.0 bob Saved\r\n550 5.2.0 carol broken\r\n", "");
    if (how == 0) c.session.on_closed();
    if (how == 1) c.session.on_timeout();
    if (how == 2) c.server("421 4.3.2 Shutting down\r\n");
    EXPECT_EQ(c.session.action(), ClientAction::kClose);
    EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kDelivered);
    EXPECT_EQ(rcpt(c.session, 1).outcome, Outcome::kPermFail);
    EXPECT_EQ(rcpt(c.session, 1).reply.code, 550);
    EXPECT_EQ(rcpt(c.session, 2).outcome, Outcome::kTempFail) << how;
  }
}

// Hostile replies: garbage, or a 354 where a recipient's reply belongs, end the session with
// a protocol error; the unanswered recipients are temporary failures, nothing crashes.
TEST(ClientSessionLmtp, MalformedRecipientReply) {
  for (std::string_view bad : {"25O oops\r\n", "354 again\r\n", "\r\n"}) {
    Client c;
    add(c, {"bob@example.org", "carol@example.org"});
    c.session.quit();
    expect(c, kGreeting, "LHLO mta.test\r\n");
    c.server(kLhloPipelining);
    c.server("250 Ok\r\n250 Ok\r\n250 Ok\r\n354 Go\r\n");
    c.server("250 2.0.0 bob Saved\r\n");
    c.server(bad);
    EXPECT_EQ(c.session.action(), ClientAction::kClose) << bad;
    EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError) << bad;
    EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kDelivered);
    EXPECT_EQ(rcpt(c.session, 1).outcome, Outcome::kTempFail);
  }
}

// A reply too many after the last recipient's is unsolicited: a protocol error, but the
// transaction was already decided and keeps its outcomes.
TEST(ClientSessionLmtp, ExtraReplyAfterTheLast) {
  Client c;
  add(c, {"bob@example.org"});
  expect(c, kGreeting, "LHLO mta.test\r\n");
  c.server(kLhloPipelining);
  c.server("250 Ok\r\n250 Ok\r\n354 Go\r\n");
  c.server("250 2.0.0 bob Saved\r\n250 2.0.0 bob Saved again\r\n");
  EXPECT_EQ(c.session.failure().reason, FailureReason::kProtocolError);
  EXPECT_EQ(c.session.results()[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(rcpt(c.session, 0).outcome, Outcome::kDelivered);
}

}  // namespace
}  // namespace sealpost::smtp
