// ClientSession across several transactions on one connection (connection reuse): idle()
// says when the driver may stop and keep the connection, a later add_message() starts the next
// MAIL FROM, a refused transaction is RSET before the session counts as idle, and
// mail_accepted tells a connection that died while idle from a transaction the server took.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/client_session.hpp"

namespace sealpost::smtp {
namespace {

constexpr std::string_view kGreeting = "220 mx.test ESMTP\r\n";
constexpr std::string_view kEhlo = "250-mx.test\r\n250-SIZE 10000\r\n250 8BITMIME\r\n";
constexpr std::string_view kEhloPipelining =
    "250-mx.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 SIZE 10000\r\n";

ClientSettings settings() {
  ClientSettings s;
  s.helo_name = "client.test";
  s.tls = TlsMode::kImplicit;
  return s;
}

OutgoingMessage message(std::string rcpt = "bob@example.org", std::string content = "x\r\n") {
  return OutgoingMessage{"alice@example.org", {std::move(rcpt)}, std::move(content), false, false};
}

// Feeds the server's bytes, returns what the client wrote.
std::string server(ClientSession& s, std::string_view bytes) {
  s.receive(bytes);
  return s.take_output();
}

// Greeting and EHLO; the session is then idle (nothing queued, no QUIT).
void greet(ClientSession& s, std::string_view ehlo = kEhlo) {
  EXPECT_FALSE(s.idle());  // the greeting is awaited
  EXPECT_EQ(server(s, kGreeting), "EHLO client.test\r\n");
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(server(s, ehlo), "");
}

// One lock-step transaction to the end of data, with the given final reply.
void deliver(ClientSession& s, std::string_view rcpt, std::string_view final_reply) {
  EXPECT_EQ(s.take_output(), "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(server(s, "250 2.1.0 Ok\r\n"), "RCPT TO:<" + std::string(rcpt) + ">\r\n");
  EXPECT_EQ(server(s, "250 2.1.5 Ok\r\n"), "DATA\r\n");
  EXPECT_EQ(server(s, "354 Go\r\n"), "x\r\n.\r\n");
  EXPECT_EQ(server(s, final_reply), "");
}

TEST(ClientSessionReuse, IdleAfterEachTransactionUntilQuit) {
  ClientSession s(settings());
  greet(s);
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.add_message(message()), 0u);
  deliver(s, "bob@example.org", "250 2.0.0 queued as A\r\n");
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.action(), ClientAction::kNone);
  // The next message on the same session: no new greeting, EHLO or TLS.
  EXPECT_EQ(s.add_message(message("carol@example.org")), 1u);
  deliver(s, "carol@example.org", "250 2.0.0 queued as B\r\n");
  EXPECT_TRUE(s.idle());
  ASSERT_EQ(s.results().size(), 2u);
  for (const TransactionResult& r : s.results()) {
    EXPECT_EQ(r.outcome, Outcome::kDelivered);
    EXPECT_TRUE(r.mail_accepted);
  }
  EXPECT_EQ(s.results()[1].reply.lines.back(), "queued as B");
  s.quit();
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(s.take_output(), "QUIT\r\n");
  EXPECT_EQ(server(s, "221 Bye\r\n"), "");
  EXPECT_EQ(s.action(), ClientAction::kDone);
  EXPECT_FALSE(s.idle());
}

TEST(ClientSessionReuse, RefusedTransactionIsResetBeforeIdle) {
  ClientSession s(settings());
  greet(s);
  s.add_message(message());
  EXPECT_EQ(s.take_output(), "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n"), "RCPT TO:<bob@example.org>\r\n");
  // RFC 5321 §4.1.1.5: the server holds a transaction open; clear it for the next message.
  EXPECT_EQ(server(s, "550 5.1.1 no such user\r\n"), "RSET\r\n");
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(server(s, "250 Ok\r\n"), "");
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.results()[0].outcome, Outcome::kPermFail);
  EXPECT_EQ(s.results()[0].reason, FailureReason::kAllRecipientsRejected);
  EXPECT_TRUE(s.results()[0].mail_accepted);
  s.add_message(message("carol@example.org"));
  deliver(s, "carol@example.org", "250 Ok\r\n");
  EXPECT_EQ(s.results()[1].outcome, Outcome::kDelivered);
}

TEST(ClientSessionReuse, SenderRefusedNeedsNoReset) {
  ClientSession s(settings());
  greet(s);
  s.add_message(message());
  EXPECT_EQ(s.take_output(), "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  EXPECT_EQ(server(s, "451 4.3.0 try later\r\n"), "");  // no transaction left open
  EXPECT_TRUE(s.idle());
  EXPECT_FALSE(s.results()[0].mail_accepted);
  EXPECT_EQ(s.results()[0].outcome, Outcome::kTempFail);
}

TEST(ClientSessionReuse, PipelinedSecondTransaction) {
  ClientSession s(settings());
  greet(s, "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10000\r\n");
  s.add_message(message());
  EXPECT_EQ(s.take_output(),
            "MAIL FROM:<alice@example.org> SIZE=3\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n250 Ok\r\n354 Go\r\n"), "x\r\n.\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n"), "");
  ASSERT_TRUE(s.idle());
  s.add_message(message("carol@example.org"));
  EXPECT_EQ(s.take_output(),
            "MAIL FROM:<alice@example.org> SIZE=3\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n250 Ok\r\n354 Go\r\n"), "x\r\n.\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n"), "");
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.results()[1].outcome, Outcome::kDelivered);
}

// A kept connection that the server closed while idle: the next MAIL FROM meets EOF, a 421 or
// silence. None of them got the message accepted: the caller may try a fresh connection.
TEST(ClientSessionReuse, DeadWhileIdleLeavesMailUnaccepted) {
  for (int how = 0; how < 3; ++how) {
    ClientSession s(settings());
    greet(s);
    s.add_message(message());
    deliver(s, "bob@example.org", "250 Ok\r\n");
    s.add_message(message("carol@example.org"));
    EXPECT_EQ(s.take_output(), "MAIL FROM:<alice@example.org> SIZE=3\r\n");
    FailureReason want = FailureReason::kServerClosed;
    if (how == 0) {
      s.on_closed();
    } else if (how == 1) {
      s.receive("421 4.4.2 idle too long, closing\r\n");
    } else {
      s.on_timeout();
      want = FailureReason::kTimeout;
    }
    EXPECT_EQ(s.action(), ClientAction::kClose) << how;
    EXPECT_FALSE(s.idle());
    EXPECT_EQ(s.failure().reason, want) << how;
    EXPECT_FALSE(s.results()[1].mail_accepted) << how;
    EXPECT_EQ(s.results()[1].outcome, Outcome::kTempFail) << how;
    // The first message's result stands.
    EXPECT_EQ(s.results()[0].outcome, Outcome::kDelivered) << how;
  }
}

TEST(ClientSessionReuse, ClosedAfterMailAcceptedIsNotMistakenForIdleDeath) {
  ClientSession s(settings());
  greet(s);
  s.add_message(message());
  deliver(s, "bob@example.org", "250 Ok\r\n");
  s.add_message(message("carol@example.org"));
  EXPECT_EQ(s.take_output(), "MAIL FROM:<alice@example.org> SIZE=3\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n"), "RCPT TO:<carol@example.org>\r\n");
  s.on_closed();
  EXPECT_EQ(s.failure().reason, FailureReason::kServerClosed);
  EXPECT_TRUE(s.results()[1].mail_accepted);
}

// An unsolicited reply while idle (the server's idle timeout, RFC 5321 §3.8) ends the session.
TEST(ClientSessionReuse, UnsolicitedReplyWhileIdleEndsTheSession) {
  ClientSession s(settings());
  greet(s);
  s.receive("421 4.4.2 timeout\r\n");
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(s.failure().reason, FailureReason::kServerClosed);
  // A message added now fails at once, without a byte written.
  s.add_message(message());
  EXPECT_EQ(s.results()[0].outcome, Outcome::kTempFail);
  EXPECT_FALSE(s.results()[0].mail_accepted);
}

TEST(ClientSessionReuse, LocallyRefusedMessageLeavesTheSessionIdle) {
  ClientSession s(settings());
  greet(s, "250-mx.test\r\n250 SIZE 10000\r\n");  // no 8BITMIME
  s.add_message(message("bob@example.org", "caf\xc3\xa9\r\n"));
  EXPECT_EQ(s.take_output(), "");  // RFC 6152 §3: not sent at all
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.results()[0].reason, FailureReason::kEightBitUnsupported);
}

class OneShotAuthenticator final : public ClientAuthenticator {
 public:
  std::optional<std::string> choose(const std::vector<std::string>&) override { return "PLAIN"; }
  std::optional<std::string> initial_response() override { return "AGEAcA=="; }
  std::optional<std::string> respond(std::string_view) override { return std::nullopt; }
  bool complete() const override { return true; }
};

// The relay keeps an authenticated session after the authenticator it was given is gone
// (a fresh one per connection): the session must not touch it again (ASan checks).
TEST(ClientSessionReuse, AuthenticatedSessionOutlivesItsAuthenticator) {
  auto auth = std::make_unique<OneShotAuthenticator>();
  ClientSession s(settings(), auth.get());
  EXPECT_EQ(server(s, kGreeting), "EHLO client.test\r\n");
  EXPECT_EQ(server(s, kEhloPipelining), "AUTH PLAIN AGEAcA==\r\n");
  EXPECT_EQ(server(s, "235 2.7.0 ok\r\n"), "");
  ASSERT_TRUE(s.idle());
  auth.reset();
  s.add_message(message());
  EXPECT_EQ(s.take_output(),
            "MAIL FROM:<alice@example.org> SIZE=3\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n250 Ok\r\n354 Go\r\n"), "x\r\n.\r\n");
  EXPECT_EQ(server(s, "250 Ok\r\n"), "");
  EXPECT_TRUE(s.idle());
  EXPECT_TRUE(s.authenticated());
  EXPECT_EQ(s.auth_mechanism(), "PLAIN");
  EXPECT_EQ(s.results()[0].outcome, Outcome::kDelivered);
}

}  // namespace
}  // namespace sealpost::smtp
