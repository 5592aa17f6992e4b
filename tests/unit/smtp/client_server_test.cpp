// ClientSession talking to our own ServerSession in memory: the two sans-I/O sessions are wired
// back to back (server output is client input and vice versa; StartTls, Authenticate and
// Enqueue performed like the drivers would), and messages must arrive byte-exact.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "session_harness.hpp"
#include "smtp/client_session.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::smtp {
namespace {

using testing::FakeAuthenticator;
using testing::FakePolicy;

// Client half of PLAIN for demo/pass (base64 of "\0demo\0pass"), as the sasl adapter would be.
class PlainAuthenticator final : public ClientAuthenticator {
 public:
  std::optional<std::string> choose(const std::vector<std::string>& offered) override {
    for (const auto& m : offered)
      if (m == "PLAIN") return m;
    return std::nullopt;
  }
  std::optional<std::string> initial_response() override { return "AGRlbW8AcGFzcw=="; }
  std::optional<std::string> respond(std::string_view) override { return std::nullopt; }
  bool complete() const override { return true; }
};

struct Link {
  Link(SessionSettings server_settings, ClientSettings client_settings,
       ClientAuthenticator* authenticator, TlsFacts tls = {})
      : server(std::move(server_settings), policy, "192.0.2.9", std::move(tls)),
        client(std::move(client_settings), authenticator) {}

  // Pumps until the client is done or closed, or nothing moves. bytewise: every transfer in
  // both directions one byte at a time.
  void run(bool bytewise) {
    server.greet();
    for (int round = 0; round < 10000; ++round) {
      std::string to_client = server.take_output();
      transcript += to_client;
      feed(to_client, bytewise, [&](std::string_view b) { client.receive(b); });
      if (client.action() == ClientAction::kStartTls) {
        ASSERT_EQ(server.action(), Action::kStartTls);
        server.on_tls_started(TlsFacts{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "mx.test"});
        client.on_tls_started();
      }
      std::string to_server = client.take_output();
      transcript += to_server;
      feed(to_server, bytewise, [&](std::string_view b) {
        if (server.action() != Action::kNone) return;  // closed after QUIT
        server.receive(b);
        drive_server();
      });
      if (server.action() == Action::kClose) {
        std::string last = server.take_output();
        transcript += last;
        client.receive(last);
        client.on_closed();
      }
      if (client.action() == ClientAction::kDone || client.action() == ClientAction::kClose) return;
      if (to_client.empty() && to_server.empty()) return;  // stalled
    }
  }

  template <typename F>
  static void feed(std::string_view bytes, bool bytewise, F&& f) {
    if (!bytewise) {
      if (!bytes.empty()) f(bytes);
      return;
    }
    for (char c : bytes) f(std::string_view(&c, 1));
  }

  void drive_server() {
    for (;;) {
      if (server.action() == Action::kEnqueue) {
        queued.push_back(server.take_transaction());
        server.on_enqueued("Q" + std::to_string(queued.size()));
      } else if (server.action() == Action::kAuthenticate) {
        server.on_auth_result(server_auth.step(server.take_auth_request()));
      } else {
        return;
      }
    }
  }

  FakePolicy policy;
  FakeAuthenticator server_auth;
  ServerSession server;
  ClientSession client;
  std::vector<Transaction> queued;
  std::string transcript;
};

SessionSettings submission_server(bool implicit_tls) {
  SessionSettings s;
  s.hostname = "mx.test";
  s.max_message_size = 10000;
  s.max_recipients = 10;
  s.starttls_offered = !implicit_tls;
  s.tls_required = !implicit_tls;
  s.auth_mechanisms = {"PLAIN", "LOGIN"};
  s.auth_required = true;
  return s;
}

TlsFacts implicit_tls() { return TlsFacts{true, "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, ""}; }

ClientSettings client_settings(TlsMode mode) {
  ClientSettings s;
  s.helo_name = "client.test";
  s.tls = mode;
  return s;
}

// Everything a dot-stuffer and a smuggling defence could trip over, 8-bit included.
const std::string kContent =
    "From: demo@localhost\r\nTo: alice@localhost\r\nSubject: caf\xc3\xa9\r\n\r\n"
    ".\r\n..\r\n.leading dot\r\n\r\n.\r\nnot the end\r\n\r\n\r\nx.\r\n.";

OutgoingMessage demo_message(std::vector<std::string> rcpts = {"alice@localhost",
                                                               "bob@localhost"}) {
  return OutgoingMessage{"demo@localhost", std::move(rcpts), kContent, false, false};
}

TEST(ClientServer, ImplicitTlsSubmissionIsByteExactEveryWay) {
  for (bool bytewise : {false, true}) {
    for (bool pipelining : {false, true}) {
      for (bool chunking : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "bytewise=" << bytewise << " pipelining=" << pipelining
                                          << " chunking=" << chunking);
        PlainAuthenticator auth;
        ClientSettings cs = client_settings(TlsMode::kImplicit);
        cs.use_pipelining = pipelining;
        cs.use_chunking = chunking;
        cs.bdat_chunk_size = 7;
        Link link(submission_server(true), cs, &auth, implicit_tls());
        link.client.add_message(demo_message());
        link.client.quit();
        link.run(bytewise);
        EXPECT_EQ(link.client.action(), ClientAction::kDone) << link.client.failure().detail;
        ASSERT_EQ(link.queued.size(), 1u) << testing::printable(link.transcript);
        const Transaction& t = link.queued[0];
        EXPECT_EQ(t.body, kContent + "\r\n");  // the missing final CRLF was added
        EXPECT_EQ(t.reverse_path, "demo@localhost");
        EXPECT_EQ(t.recipients, (std::vector<std::string>{"alice@localhost", "bob@localhost"}));
        EXPECT_EQ(t.auth_user, "demo@localhost");
        EXPECT_TRUE(t.body_8bit);
        const TransactionResult& r = link.client.results()[0];
        EXPECT_EQ(r.outcome, Outcome::kDelivered);
        EXPECT_EQ(r.reply.lines.back(), "Ok: queued as Q1");
        EXPECT_EQ(r.reply.enhanced, "2.0.0");
        EXPECT_TRUE(link.client.authenticated());
      }
    }
  }
}

TEST(ClientServer, StartTlsRequiredWithAuth) {
  for (bool bytewise : {false, true}) {
    PlainAuthenticator auth;
    Link link(submission_server(false), client_settings(TlsMode::kRequireStartTls), &auth);
    link.client.add_message(demo_message({"alice@localhost"}));
    link.client.quit();
    link.run(bytewise);
    EXPECT_EQ(link.client.action(), ClientAction::kDone) << link.client.failure().detail;
    ASSERT_EQ(link.queued.size(), 1u) << testing::printable(link.transcript);
    EXPECT_TRUE(link.queued[0].tls.active);
    EXPECT_EQ(link.queued[0].auth_user, "demo@localhost");
    EXPECT_EQ(link.queued[0].body, kContent + "\r\n");
    EXPECT_TRUE(link.client.tls_active());
    // Two EHLOs: one in plaintext, one inside TLS; AUTH only after STARTTLS.
    std::string_view tr = link.transcript;
    EXPECT_LT(tr.find("STARTTLS\r\n"), tr.find("AUTH PLAIN"));
    EXPECT_NE(tr.find("EHLO client.test", tr.find("STARTTLS\r\n")), std::string_view::npos);
  }
}

TEST(ClientServer, ServerWithoutStartTlsGetsNoMail) {
  PlainAuthenticator auth;
  SessionSettings s = submission_server(false);
  s.starttls_offered = false;  // as if stripped
  Link link(s, client_settings(TlsMode::kRequireStartTls), &auth);
  link.client.add_message(demo_message());
  link.client.quit();
  link.run(false);
  EXPECT_EQ(link.client.action(), ClientAction::kClose);
  EXPECT_EQ(link.client.failure().reason, FailureReason::kTlsRequiredNotOffered);
  EXPECT_TRUE(link.queued.empty());
  EXPECT_EQ(link.transcript.find("MAIL"), std::string::npos);
  EXPECT_EQ(link.transcript.find("AUTH"), std::string::npos);
}

TEST(ClientServer, SomeRecipientsRefused) {
  PlainAuthenticator auth;
  Link link(submission_server(true), client_settings(TlsMode::kImplicit), &auth, implicit_tls());
  link.client.add_message(demo_message({"alice@localhost", "nobody@localhost", "busy@localhost"}));
  link.client.quit();
  link.run(false);
  ASSERT_EQ(link.queued.size(), 1u);
  EXPECT_EQ(link.queued[0].recipients, std::vector<std::string>{"alice@localhost"});
  const TransactionResult& r = link.client.results()[0];
  EXPECT_EQ(r.outcome, Outcome::kDelivered);
  EXPECT_EQ(r.recipients[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(r.recipients[1].outcome, Outcome::kPermFail);
  EXPECT_EQ(r.recipients[1].reply.enhanced, "5.1.1");
  EXPECT_EQ(r.recipients[2].outcome, Outcome::kTempFail);
  EXPECT_EQ(r.recipients[2].reply.enhanced, "4.2.1");
}

TEST(ClientServer, SeveralMessagesSizeAndSmtpUtf8) {
  PlainAuthenticator auth;
  ClientSettings cs = client_settings(TlsMode::kImplicit);
  cs.use_chunking = true;
  Link link(submission_server(true), cs, &auth, implicit_tls());
  OutgoingMessage big = demo_message();
  big.content = std::string(20000, 'x') + "\r\n";  // over the server's SIZE 10000
  OutgoingMessage utf8 = demo_message({"\xe7\x94\xa8\xe6\x88\xb7@localhost"});
  OutgoingMessage refused = demo_message({"nobody@localhost"});
  link.client.add_message(demo_message());
  link.client.add_message(big);
  link.client.add_message(refused);
  link.client.add_message(utf8);
  link.client.quit();
  link.run(true);
  EXPECT_EQ(link.client.action(), ClientAction::kDone) << link.client.failure().detail;
  ASSERT_EQ(link.queued.size(), 2u);
  EXPECT_FALSE(link.queued[0].smtputf8);
  EXPECT_TRUE(link.queued[1].smtputf8);
  EXPECT_EQ(link.queued[1].recipients[0], "\xe7\x94\xa8\xe6\x88\xb7@localhost");
  EXPECT_EQ(link.queued[1].body, kContent + "\r\n");
  const auto& results = link.client.results();
  EXPECT_EQ(results[0].outcome, Outcome::kDelivered);
  EXPECT_EQ(results[1].reason, FailureReason::kSizeExceeded);
  EXPECT_EQ(results[2].reason, FailureReason::kAllRecipientsRejected);
  EXPECT_EQ(results[3].outcome, Outcome::kDelivered);
  EXPECT_EQ(results[3].reply.lines.back(), "Ok: queued as Q2");
}

TEST(ClientServer, AuthRefusedByTheServer) {
  class WrongPassword final : public ClientAuthenticator {
   public:
    std::optional<std::string> choose(const std::vector<std::string>&) override { return "PLAIN"; }
    std::optional<std::string> initial_response() override { return "AGRlbW8Ad3Jvbmc="; }
    std::optional<std::string> respond(std::string_view) override { return std::nullopt; }
    bool complete() const override { return true; }
  } auth;
  Link link(submission_server(true), client_settings(TlsMode::kImplicit), &auth, implicit_tls());
  link.client.add_message(demo_message());
  link.run(false);
  EXPECT_EQ(link.client.failure().reason, FailureReason::kAuthFailed);
  EXPECT_EQ(link.client.failure().reply.code, 535);
  EXPECT_TRUE(link.queued.empty());
}

}  // namespace
}  // namespace sealpost::smtp
