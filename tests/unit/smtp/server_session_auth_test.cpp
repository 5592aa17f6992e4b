// ServerSession and SMTP AUTH (RFC 4954, RFC 6409 §4.3, RFC 8314 §3): advertising only inside
// TLS, command sequencing, the SASL exchange (initial response, 334 round trips, "*" cancel),
// result replies, line limits, pipelining across the Authenticate action, auth_required
// listeners, the authenticated user's sender/relay rights, MAIL AUTH=, trace facts and shutdown.
// The SASL mechanisms themselves are src/sasl's; here a scripted FakeAuthenticator answers.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "session_harness.hpp"
#include "smtp/received.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;
using testing::expect;
using testing::expect_exact;
using testing::expect_output;
using testing::expect_replies;
using testing::Harness;
using testing::ready;
using testing::run_bytewise;
using testing::test_settings;
using Kind = AuthResult::Kind;

constexpr const char* kDemoPlain = "AGRlbW8AcGFzcw==";  // base64("\0demo\0pass")

TlsFacts tls13() { return TlsFacts{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "mx.test"}; }

// A submission listener: on 587 STARTTLS, then AUTH PLAIN or LOGIN; with tls13() as the
// session's TlsFacts it is 465 (implicit TLS), where AUTH works from the first EHLO.
SessionSettings submission() {
  SessionSettings s = test_settings();
  s.starttls_offered = true;
  s.auth_mechanisms = {"PLAIN", "LOGIN"};
  return s;
}

SessionSettings submission_auth_required() {
  SessionSettings s = submission();
  s.auth_required = true;
  return s;
}

void login(Harness& h) {
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n", "235 2.7.0 Authentication successful\r\n");
  ASSERT_EQ(h.session.auth_user(), "demo@localhost");
}

const std::string kEhloNoAuth =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10000\r\n250-8BITMIME\r\n"
    "250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-DSN\r\n";
// Inside TLS, REQUIRETLS follows (RFC 8689 §2).
const std::string kEhloTlsNoAuth = kEhloNoAuth + "250-REQUIRETLS\r\n";

// ---- Advertising ----------------------------------------------------------------------------

TEST(ServerSessionAuthEhlo, NotAdvertisedBeforeTlsAdvertisedAfter) {
  Harness h(submission());
  expect_exact(h, "EHLO client.test\r\n", kEhloNoAuth + "250 STARTTLS\r\n");
  expect_exact(h, "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n");
  ASSERT_EQ(h.session.action(), Action::kStartTls);
  // The driver narrows the listener's list to what this TLS session allows.
  h.session.set_auth_mechanisms({"PLAIN", "LOGIN", "SCRAM-SHA-256-PLUS"});
  h.session.on_tls_started(tls13());
  expect_exact(h, "EHLO client.test\r\n",
               kEhloTlsNoAuth + "250 AUTH PLAIN LOGIN SCRAM-SHA-256-PLUS\r\n");
}

TEST(ServerSessionAuthEhlo, AdvertisedInsideImplicitTls) {
  Harness h(submission(), tls13());
  expect_exact(h, "EHLO client.test\r\n", kEhloTlsNoAuth + "250 AUTH PLAIN LOGIN\r\n");
}

TEST(ServerSessionAuthEhlo, NotAdvertisedWithoutMechanismsEvenInTls) {
  Harness h(test_settings(), tls13());  // role mx
  expect_exact(h, "EHLO client.test\r\n", kEhloNoAuth + "250 REQUIRETLS\r\n");
}

TEST(ServerSessionAuthEhlo, MechanismsNarrowedToNoneMeansNoAuth) {
  Harness h(submission());
  ready(h);
  expect(h, "STARTTLS\r\n", "220 2.0.0");
  h.session.set_auth_mechanisms({});
  h.session.on_tls_started(tls13());
  expect_exact(h, "EHLO client.test\r\n", kEhloNoAuth + "250 REQUIRETLS\r\n");
  expect_exact(h, "AUTH PLAIN\r\n", "503 5.5.1 Authentication not enabled\r\n");
}

// ---- Sequencing -----------------------------------------------------------------------------

TEST(ServerSessionAuthSequence, BeforeTlsIs538) {
  Harness h(submission());
  ready(h);
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n",
               "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  expect_exact(h, "AUTH LOGIN\r\n",
               "538 5.7.11 Encryption required for requested authentication mechanism\r\n");
  EXPECT_EQ(h.session.action(), Action::kNone);
  EXPECT_TRUE(h.authenticator.requests.empty());
  EXPECT_EQ(h.session.auth_user(), "");
}

TEST(ServerSessionAuthSequence, BeforeTlsOnRequireStartTlsListenerIs530) {
  SessionSettings s = submission();
  s.tls_required = true;
  Harness h(s);
  ready(h);
  expect_exact(h, "AUTH PLAIN\r\n", "530 5.7.0 Must issue a STARTTLS command first\r\n");
  EXPECT_TRUE(h.authenticator.requests.empty());
}

TEST(ServerSessionAuthSequence, ListenerWithoutMechanisms) {
  Harness h(test_settings(), tls13());
  ready(h);
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n", "503 5.5.1 Authentication not enabled\r\n");
  EXPECT_TRUE(h.authenticator.requests.empty());
}

TEST(ServerSessionAuthSequence, UnknownMechanismAndSyntax) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH CRAM-MD5\r\n", "504 5.5.4 Unrecognized authentication type\r\n");
  expect_exact(h, "AUTH SCRAM-SHA-256 biwsbj1kZW1v\r\n",
               "504 5.5.4 Unrecognized authentication type\r\n");
  expect_exact(h, "AUTH\r\n", "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
  expect_exact(h, "AUTH \r\n", "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
  // An initial response is one base64 word.
  expect_exact(h, "AUTH PLAIN \r\n", "501 5.5.2 Cannot decode initial response\r\n");
  expect_exact(h, "AUTH PLAIN a b\r\n", "501 5.5.2 Cannot decode initial response\r\n");
  EXPECT_TRUE(h.authenticator.requests.empty());
}

TEST(ServerSessionAuthSequence, MechanismNameIsCaseInsensitive) {
  Harness h(submission(), tls13());
  ready(h);
  expect(h, "auth plain "s + kDemoPlain + "\r\n", "235 2.7.0");
  ASSERT_EQ(h.authenticator.requests.size(), 1u);
  EXPECT_EQ(h.authenticator.requests[0].mechanism, "PLAIN");
}

TEST(ServerSessionAuthSequence, WithoutEhlo) {
  Harness h(submission(), tls13());
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n", "503 5.5.1 Send HELO/EHLO first\r\n");
  EXPECT_TRUE(h.authenticator.requests.empty());
}

TEST(ServerSessionAuthSequence, AfterHeloIsRefused) {
  // AUTH is an ESMTP extension: a HELO client was never offered it (and its Received header
  // could not say ESMTPSA).
  Harness h(submission(), tls13());
  expect(h, "HELO client.test\r\n", "250 mx.test");
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n", "503 5.5.1 Send EHLO first\r\n");
  EXPECT_TRUE(h.authenticator.requests.empty());
  ready(h);
  login(h);
}

TEST(ServerSessionAuthSequence, InsideTransaction) {
  Harness h(submission(), tls13());
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n",
               "503 5.5.1 AUTH not allowed in a mail transaction\r\n");
  EXPECT_TRUE(h.authenticator.requests.empty());
  expect(h, "RSET\r\n", "250 2.0.0");
  login(h);
}

TEST(ServerSessionAuthSequence, SuccessThenSecondAuthRefused) {
  Harness h(submission(), tls13());
  ready(h);
  EXPECT_EQ(h.session.auth_user(), "");
  login(h);
  ASSERT_EQ(h.authenticator.requests.size(), 1u);
  const AuthRequest& r = h.authenticator.requests[0];
  EXPECT_EQ(r.mechanism, "PLAIN");
  EXPECT_TRUE(r.initial);
  EXPECT_EQ(r.response, std::optional<std::string>(kDemoPlain));
  expect_exact(h, "AUTH LOGIN\r\n", "503 5.5.1 Already authenticated\r\n");
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n", "503 5.5.1 Already authenticated\r\n");
  EXPECT_EQ(h.authenticator.requests.size(), 1u);
  // EHLO and RSET end a transaction, not the authentication (RFC 4954 has no such reset).
  ready(h);
  expect(h, "RSET\r\n", "250 2.0.0");
  EXPECT_EQ(h.session.auth_user(), "demo@localhost");
  expect_exact(h, "AUTH PLAIN\r\n", "503 5.5.1 Already authenticated\r\n");
}

TEST(ServerSessionAuthSequence, LogNamesTheUser) {
  Harness h(submission(), tls13());
  ready(h);
  h.session.take_log();
  login(h);
  auto log = h.session.take_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], "authenticated as demo@localhost");
}

// ---- The exchange ---------------------------------------------------------------------------

TEST(ServerSessionAuthExchange, EqualsSignIsAnEmptyInitialResponse) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH PLAIN =\r\n", "535 5.7.8 Authentication credentials invalid\r\n");
  ASSERT_EQ(h.authenticator.requests.size(), 1u);
  EXPECT_TRUE(h.authenticator.requests[0].initial);
  ASSERT_TRUE(h.authenticator.requests[0].response.has_value());
  EXPECT_EQ(h.authenticator.requests[0].response, "");
}

TEST(ServerSessionAuthExchange, NoInitialResponseThenChallengeRoundTrip) {
  Harness h(submission(), tls13());
  h.manual_auth = true;
  ready(h);
  EXPECT_EQ(h.send("AUTH PLAIN\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  AuthRequest first = h.session.take_auth_request();
  EXPECT_EQ(first.mechanism, "PLAIN");
  EXPECT_TRUE(first.initial);
  EXPECT_EQ(first.response, std::nullopt);

  h.session.on_auth_result(AuthResult{Kind::kChallenge, "", {}});
  EXPECT_EQ(h.session.action(), Action::kNone);
  EXPECT_EQ(h.session.take_output(), "334 \r\n");

  // The next line is a SASL response, not a command, even if it looks like one.
  EXPECT_EQ(h.send("NOOP\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  AuthRequest second = h.session.take_auth_request();
  EXPECT_EQ(second.mechanism, "PLAIN");
  EXPECT_FALSE(second.initial);
  EXPECT_EQ(second.response, std::optional<std::string>("NOOP"));
  h.session.on_auth_result(AuthResult{Kind::kChallenge, "Zm9v", {}});
  EXPECT_EQ(h.session.take_output(), "334 Zm9v\r\n");

  EXPECT_EQ(h.send("=\r\n"), "");  // in a continuation, "=" is passed on as sent
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  AuthRequest third = h.session.take_auth_request();
  EXPECT_EQ(third.mechanism, "PLAIN");
  EXPECT_FALSE(third.initial);
  EXPECT_EQ(third.response, std::optional<std::string>("="));
  h.session.on_auth_result(AuthResult{Kind::kSuccess, {}, "demo@localhost"});
  EXPECT_EQ(h.session.take_output(), "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(h.session.auth_user(), "demo@localhost");
  expect(h, "NOOP\r\n", "250 2.0.0");  // back to commands
}

TEST(ServerSessionAuthExchange, EmptyResponseLine) {
  Harness h(submission(), tls13());
  h.manual_auth = true;
  ready(h);
  h.send("AUTH LOGIN\r\n");
  h.session.take_auth_request();
  h.session.on_auth_result(AuthResult{Kind::kChallenge, "VXNlcm5hbWU6", {}});
  EXPECT_EQ(h.session.take_output(), "334 VXNlcm5hbWU6\r\n");
  EXPECT_EQ(h.send("\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  AuthRequest r = h.session.take_auth_request();
  EXPECT_EQ(r.mechanism, "LOGIN");
  EXPECT_EQ(r.response, std::optional<std::string>(""));
}

TEST(ServerSessionAuthExchange, LoginTwoChallenges) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
  expect_exact(h, "ZGVtbw==\r\n", "334 UGFzc3dvcmQ6\r\n");
  expect_exact(h, "cGFzcw==\r\n", "235 2.7.0 Authentication successful\r\n");
  EXPECT_EQ(h.session.auth_user(), "demo@localhost");
  ASSERT_EQ(h.authenticator.requests.size(), 3u);
  EXPECT_TRUE(h.authenticator.requests[0].initial);
  EXPECT_FALSE(h.authenticator.requests[1].initial);
  EXPECT_FALSE(h.authenticator.requests[2].initial);
  for (const auto& r : h.authenticator.requests) EXPECT_EQ(r.mechanism, "LOGIN");
}

TEST(ServerSessionAuthExchange, LoginWithInitialResponse) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH LOGIN ZGVtbw==\r\n", "334 UGFzc3dvcmQ6\r\n");
  expect_exact(h, "d3Jvbmc=\r\n", "535 5.7.8 Authentication credentials invalid\r\n");
  EXPECT_EQ(h.session.auth_user(), "");
  expect(h, "NOOP\r\n", "250 2.0.0");
}

TEST(ServerSessionAuthExchange, WholeAndBytewiseAgree) {
  const std::string dialogue =
      "EHLO client.test\r\nAUTH LOGIN\r\nZGVtbw==\r\ncGFzcw==\r\nMAIL FROM:<demo@localhost>\r\n"
      "RCPT TO:<someone@example.com>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n";
  Harness whole(submission_auth_required(), tls13());
  Harness bytewise(submission_auth_required(), tls13());
  std::string a = whole.send(dialogue);
  std::string b = run_bytewise(bytewise, dialogue);
  EXPECT_EQ(a, b);
  expect_output(a, {"250-mx.test", "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0", "250 2.1.0",
                    "250 2.1.5", "354", "250 2.0.0 Ok: queued as Q1", "221 2.0.0"});
  ASSERT_EQ(whole.queued.size(), 1u);
  ASSERT_EQ(bytewise.queued.size(), 1u);
  EXPECT_EQ(whole.queued[0].auth_user, "demo@localhost");
  EXPECT_EQ(bytewise.queued[0].auth_user, "demo@localhost");
}

TEST(ServerSessionAuthExchange, CancelThenFreshExchange) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
  expect_exact(h, "ZGVtbw==\r\n", "334 UGFzc3dvcmQ6\r\n");
  h.session.take_log();
  expect_exact(h, "*\r\n", "501 5.0.0 Authentication cancelled\r\n");
  EXPECT_EQ(h.session.take_log(), std::vector<std::string>{"authentication cancelled by client"});
  EXPECT_EQ(h.session.action(), Action::kNone);
  EXPECT_EQ(h.session.auth_user(), "");
  ASSERT_EQ(h.authenticator.requests.size(), 2u);  // "*" never reaches the mechanism
  // Commands again, then a new exchange that starts from the beginning.
  expect(h, "NOOP\r\n", "250 2.0.0");
  h.manual_auth = true;
  EXPECT_EQ(h.send("AUTH PLAIN\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  AuthRequest r = h.session.take_auth_request();
  EXPECT_EQ(r.mechanism, "PLAIN");
  EXPECT_TRUE(r.initial);
  EXPECT_EQ(r.response, std::nullopt);
  h.session.on_auth_result(h.authenticator.step(r));
  h.manual_auth = false;
  EXPECT_EQ(h.session.take_output(), "334 \r\n");
  expect_exact(h, "AGRlbW8AcGFzcw==\r\n", "235 2.7.0 Authentication successful\r\n");
}

TEST(ServerSessionAuthExchange, StarIsCancelOnlyInAContinuation) {
  // As an initial response "*" is just a (bad) response for the mechanism to refuse.
  Harness h(submission(), tls13());
  h.authenticator.special["*"] = Kind::kMalformed;
  ready(h);
  expect_exact(h, "AUTH PLAIN *\r\n", "501 5.5.2 Cannot decode response\r\n");
  ASSERT_EQ(h.authenticator.requests.size(), 1u);
}

TEST(ServerSessionAuthResult, FailureKinds) {
  struct Case {
    const char* response;
    Kind kind;
    const char* reply;
  } cases[] = {
      {"!", Kind::kMalformed, "501 5.5.2 Cannot decode response\r\n"},
      {"YmFk", Kind::kBadCredentials, "535 5.7.8 Authentication credentials invalid\r\n"},
      {"dGVtcA==", Kind::kTemporaryFailure, "454 4.7.0 Temporary authentication failure\r\n"},
      {"d2Vhaw==", Kind::kTooWeak, "534 5.7.9 Authentication mechanism is too weak\r\n"},
      {"ZW5j", Kind::kEncryptionNeeded,
       "538 5.7.11 Encryption required for requested authentication mechanism\r\n"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.response);
    Harness h(submission(), tls13());
    h.authenticator.special[c.response] = c.kind;
    ready(h);
    // As the initial response and as a continuation.
    expect_exact(h, "AUTH PLAIN "s + c.response + "\r\n", c.reply);
    EXPECT_EQ(h.session.auth_user(), "");
    expect_exact(h, "AUTH PLAIN\r\n", "334 \r\n");
    expect_exact(h, c.response + "\r\n"s, c.reply);
    EXPECT_EQ(h.session.auth_user(), "");
    EXPECT_EQ(h.session.action(), Action::kNone);
    expect(h, "NOOP\r\n", "250 2.0.0");  // the exchange is over
    login(h);                            // and a new one may follow
  }
}

TEST(ServerSessionAuthResult, FailuresCountAgainstTheErrorLimit) {
  SessionSettings s = submission();
  s.max_bad_commands = 2;
  Harness h(s, tls13());
  ready(h);
  expect(h, "AUTH PLAIN YQ==\r\n", "535 5.7.8");
  expect(h, "AUTH PLAIN Yg==\r\n", "535 5.7.8");
  expect_replies(h, "AUTH PLAIN Yw==\r\n",
                 {"535 5.7.8", "421 4.7.0 mx.test Error: too many errors"});
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionAuthResult, TemporaryFailureIsNotABadCommand) {
  SessionSettings s = submission();
  s.max_bad_commands = 1;
  Harness h(s, tls13());
  h.authenticator.special["dGVtcA=="] = Kind::kTemporaryFailure;
  ready(h);
  for (int i = 0; i < 3; ++i) expect(h, "AUTH PLAIN dGVtcA==\r\n", "454 4.7.0");
  EXPECT_EQ(h.session.action(), Action::kNone);
  login(h);
}

// ---- Line limits (RFC 4954 §4: 12288 octets) -------------------------------------------------

TEST(ServerSessionAuthLineLimit, AuthCommandUpTo12288Octets) {
  Harness h(submission(), tls13());
  h.manual_auth = true;
  ready(h);
  std::string line = "AUTH PLAIN ";
  line += std::string(12288 - 2 - line.size(), 'A');
  ASSERT_EQ(line.size() + 2, 12288u);
  EXPECT_EQ(h.send(line + "\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  AuthRequest r = h.session.take_auth_request();
  ASSERT_TRUE(r.response.has_value());
  EXPECT_EQ(r.response->size(), 12288u - 2 - 11);
  h.session.on_auth_result(AuthResult{Kind::kBadCredentials, {}, {}});
  EXPECT_EQ(h.session.take_output(), "535 5.7.8 Authentication credentials invalid\r\n");

  // One octet more: refused whole or byte by byte, and never handed to the mechanism.
  std::string longer = line + "A\r\n";
  expect_exact(h, longer, "500 5.5.2 Line too long\r\n");
  Harness b(submission(), tls13());
  ready(b);
  EXPECT_EQ(run_bytewise(b, longer), "500 5.5.2 Line too long\r\n");
  EXPECT_TRUE(b.authenticator.requests.empty());
  expect(b, "NOOP\r\n", "250 2.0.0");
}

TEST(ServerSessionAuthLineLimit, ResponseUpTo12288Octets) {
  Harness h(submission(), tls13());
  ready(h);
  std::string response(12286, 'A');
  expect_exact(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
  expect_exact(h, response + "\r\n", "334 UGFzc3dvcmQ6\r\n");
  ASSERT_EQ(h.authenticator.requests.size(), 2u);
  EXPECT_EQ(h.authenticator.requests[1].response->size(), 12286u);
  expect(h, "*\r\n", "501 5.0.0");
}

TEST(ServerSessionAuthLineLimit, OverlongResponseSameReplyWholeOrInPieces) {
  // Regression: whole, the line reached handle_auth_response (500 5.5.6); in pieces it was
  // drained as an over-long command line (500 5.5.2). RFC 4954 §4 names 500 5.5.6.
  const std::string tail = std::string(12287, 'A') + "\r\nNOOP\r\n";
  for (bool bytewise : {false, true}) {
    SCOPED_TRACE(bytewise);
    Harness h(submission(), tls13());
    ready(h);
    expect_exact(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
    std::string out = bytewise ? run_bytewise(h, tail) : h.send(tail);
    expect_output(out, {"500 5.5.6 Authentication exchange line too long\r\n", "250 2.0.0"});
    EXPECT_EQ(h.authenticator.requests.size(), 1u);
    EXPECT_EQ(h.session.auth_user(), "");
  }
  // An endless response is drained with a bounded buffer.
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(h.send(std::string(1024, 'B')), "");
    ASSERT_LE(h.session.buffered(), 12288u + 1024u);
  }
  expect_replies(h, "\r\nNOOP\r\n", {"500 5.5.6", "250 2.0.0"});
}

// ---- Pipelining -----------------------------------------------------------------------------

TEST(ServerSessionAuthPipelining, MailWaitsForTheAuthResult) {
  Harness h(submission_auth_required(), tls13());
  h.manual_auth = true;
  ready(h);
  EXPECT_EQ(h.send("AUTH PLAIN "s + kDemoPlain +
                   "\r\nMAIL FROM:<demo@localhost>\r\nRCPT TO:<x@example.com>\r\n"),
            "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  EXPECT_EQ(h.session.buffered(), 53u);  // MAIL and RCPT wait, unread
  EXPECT_EQ(h.send("NOOP\r\n"), "");     // input during the action is the driver's bug: ignored
  h.session.on_auth_result(h.authenticator.step(h.session.take_auth_request()));
  expect_output(h.session.take_output(), {"235 2.7.0", "250 2.1.0 Ok", "250 2.1.5 Ok"});
  EXPECT_TRUE(h.session.in_transaction());
}

TEST(ServerSessionAuthPipelining, FailedAuthThenMailIsRefused) {
  Harness h(submission_auth_required(), tls13());
  h.manual_auth = true;
  ready(h);
  EXPECT_EQ(h.send("AUTH PLAIN d3Jvbmc=\r\nMAIL FROM:<demo@localhost>\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  h.session.on_auth_result(h.authenticator.step(h.session.take_auth_request()));
  expect_output(h.session.take_output(), {"535 5.7.8", "530 5.7.0 Authentication required\r\n"});
}

TEST(ServerSessionAuthPipelining, ResponsePipelinedAfterAuthCommand) {
  // A client may not pipeline AUTH (RFC 4954 §4), but if it does, lines stay in order.
  Harness h(submission(), tls13());
  expect_replies(h, "EHLO client.test\r\nAUTH LOGIN\r\nZGVtbw==\r\ncGFzcw==\r\nNOOP\r\n",
                 {"250-mx.test", "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0", "250 2.0.0"});
}

// ---- auth_required (role submission) --------------------------------------------------------

TEST(ServerSessionAuthRequired, MailBeforeAuthIs530) {
  Harness h(submission_auth_required());
  ready(h);
  expect_exact(h, "MAIL FROM:<demo@localhost>\r\n", "530 5.7.0 Authentication required\r\n");
  // Before TLS on 587, too (AUTH is not even possible yet).
  expect_exact(h, "MAIL FROM:<>\r\n", "530 5.7.0 Authentication required\r\n");
  EXPECT_FALSE(h.session.in_transaction());
}

TEST(ServerSessionAuthRequired, OtherCommandsWorkBeforeAuth) {
  Harness h(submission_auth_required());
  expect(h, "NOOP\r\n", "250 2.0.0");
  expect(h, "RSET\r\n", "250 2.0.0");
  expect(h, "HELP\r\n", "214 2.0.0");
  expect(h, "HELO client.test\r\n", "250 mx.test");
  ready(h);
  expect(h, "VRFY demo\r\n", "252 2.5.0");
  // RCPT and DATA need MAIL first, which is the 503 they get.
  expect_exact(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1 Need MAIL command\r\n");
  expect_exact(h, "DATA\r\n", "503 5.5.1 Need MAIL command\r\n");
  // A refused BDAT still consumes its octets: the chunk is never read as commands.
  expect_exact(h, "BDAT 6\r\nNOOP\r\n", "503 5.5.1 Need MAIL command\r\n");
  expect_exact(h, "BDAT 10 LAST\r\nQUIT\r\nQUIT", "503 5.5.1 Need MAIL command\r\n");
  EXPECT_EQ(h.session.action(), Action::kNone);
  expect_exact(h, "STARTTLS\r\n", "220 2.0.0 Ready to start TLS\r\n");
  h.session.on_tls_started(tls13());
  ready(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "530 5.7.0");
  login(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0");
  expect_exact(h, "QUIT\r\n", "221 2.0.0 Bye\r\n");
}

TEST(ServerSessionAuthRequired, WholeSubmissionAfterAuth) {
  Harness h(submission_auth_required(), tls13());
  ready(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "530 5.7.0");
  login(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<friend@example.com>\r\n", "250 2.1.5");
  expect_replies(h, "DATA\r\nSubject: hi\r\n\r\nhello\r\n.\r\n", {"354", "250 2.0.0 Ok: queued"});
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].auth_user, "demo@localhost");
  EXPECT_EQ(h.queued[0].recipients, std::vector<std::string>{"friend@example.com"});
}

// ---- What authentication allows -------------------------------------------------------------

TEST(ServerSessionAuthPolicy, RelayOnlyWhenAuthenticated) {
  Harness h(submission(), tls13());
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect_exact(h, "RCPT TO:<x@example.com>\r\n", "554 5.7.1 Relay access denied\r\n");
  expect(h, "RSET\r\n", "250");
  login(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0");
  expect_exact(h, "RCPT TO:<x@example.com>\r\n", "250 2.1.5 Ok\r\n");
  expect_exact(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5 Ok\r\n");
  expect(h, "RCPT TO:<nobody@localhost>\r\n", "550 5.1.1");  // local rules still apply
}

TEST(ServerSessionAuthPolicy, SenderMustBelongToTheUser) {
  Harness h(submission(), tls13());
  ready(h);
  login(h);
  h.session.take_log();
  expect_exact(h, "MAIL FROM:<alice@example.org>\r\n",
               "553 5.7.1 Sender address not owned by user demo@localhost\r\n");
  EXPECT_FALSE(h.session.in_transaction());
  auto log = h.session.take_log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0],
            "sender rejected: <alice@example.org> user=demo@localhost: 553 5.7.1 Sender address "
            "not owned by user demo@localhost");
  expect_exact(h, "MAIL FROM:<>\r\n", "250 2.1.0 Ok\r\n");  // bounces need no owner
  expect(h, "RSET\r\n", "250");
  expect_exact(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0 Ok\r\n");
}

TEST(ServerSessionAuthPolicy, MailAuthParameterOnlyWhenAuthOffered) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "MAIL FROM:<alice@example.org> AUTH=<>\r\n", "250 2.1.0 Ok\r\n");
  expect(h, "RSET\r\n", "250");
  expect_exact(h, "MAIL FROM:<alice@example.org> AUTH=alice+40example.org\r\n", "250 2.1.0 Ok\r\n");
  expect(h, "RSET\r\n", "250");
  expect_exact(h, "MAIL FROM:<alice@example.org> AUTH\r\n",
               "501 5.5.4 AUTH parameter needs a value\r\n");
  // Listener without AUTH.
  Harness mx(test_settings(), tls13());
  ready(mx);
  expect_exact(mx, "MAIL FROM:<alice@example.org> AUTH=<>\r\n",
               "555 5.5.4 Unsupported MAIL parameter AUTH\r\n");
  // Mechanisms configured but TLS not yet active: AUTH is not offered, so neither is AUTH=.
  Harness plain(submission());
  ready(plain);
  expect_exact(plain, "MAIL FROM:<alice@example.org> AUTH=<>\r\n",
               "555 5.5.4 Unsupported MAIL parameter AUTH\r\n");
}

// ---- Trace facts ----------------------------------------------------------------------------

TEST(ServerSessionAuthTrace, TransactionCarriesAuthUser) {
  Harness h(submission(), tls13());
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<bob@localhost>\r\n", "250 2.1.5");
  expect_replies(h, "DATA\r\nx\r\n.\r\n", {"354", "250 2.0.0"});
  login(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<bob@localhost>\r\n", "250 2.1.5");
  expect_replies(h, "BDAT 3 LAST\r\nx\r\n", {"250 2.0.0"});
  ASSERT_EQ(h.queued.size(), 2u);
  EXPECT_EQ(h.queued[0].auth_user, "");
  EXPECT_EQ(h.queued[1].auth_user, "demo@localhost");
  EXPECT_TRUE(h.queued[1].tls.active);
  EXPECT_TRUE(h.queued[1].esmtp);
}

TEST(ServerSessionAuthTrace, ReceivedHeaderFromAnAuthenticatedSession) {
  Harness h(submission(), tls13());
  ready(h);
  login(h);
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<bob@localhost>\r\n", "250 2.1.5");
  expect_replies(h, "DATA\r\nx\r\n.\r\n", {"354", "250 2.0.0"});
  expect(h, "MAIL FROM:<demo@localhost> SMTPUTF8\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<bob@localhost>\r\n", "250 2.1.5");
  expect_replies(h, "DATA\r\nx\r\n.\r\n", {"354", "250 2.0.0"});
  ASSERT_EQ(h.queued.size(), 2u);
  constexpr std::time_t kTime = 1700000000;
  EXPECT_EQ(received_header(h.queued[0], "mx.test", "Q1", kTime),
            "Received: from client.test ([192.0.2.7])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits))\r\n"
            "\tby mx.test (Sealpost) with ESMTPSA id Q1\r\n"
            "\tfor <bob@localhost>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
  EXPECT_EQ(received_header(h.queued[0], "mx.test", "Q1", kTime, /*expose_user=*/true),
            "Received: from client.test ([192.0.2.7])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits))\r\n"
            "\t(Authenticated sender: demo@localhost)\r\n"
            "\tby mx.test (Sealpost) with ESMTPSA id Q1\r\n"
            "\tfor <bob@localhost>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
  std::string utf8 = received_header(h.queued[1], "mx.test", "Q2", kTime);
  EXPECT_NE(utf8.find(" with UTF8SMTPSA id Q2\r\n"), std::string::npos) << utf8;
  EXPECT_EQ(utf8.find("demo"), std::string::npos) << utf8;
  utf8 = received_header(h.queued[1], "mx.test", "Q2", kTime, true);
  EXPECT_NE(utf8.find("\t(Authenticated sender: demo@localhost)\r\n"), std::string::npos) << utf8;
  // Unauthenticated: no "A", and nothing to expose.
  Transaction t = h.queued[0];
  t.auth_user.clear();
  std::string anon = received_header(t, "mx.test", "Q3", kTime, true);
  EXPECT_NE(anon.find(" with ESMTPS id Q3\r\n"), std::string::npos) << anon;
  EXPECT_EQ(anon.find("Authenticated"), std::string::npos) << anon;
}

// ---- STARTTLS and shutdown ------------------------------------------------------------------

TEST(ServerSessionAuthStartTls, HandshakeLeavesNoUserAndAllowsAuth) {
  Harness h(submission_auth_required());
  ready(h);
  expect(h, "AUTH PLAIN\r\n", "538 5.7.11");
  expect(h, "STARTTLS\r\n", "220 2.0.0");
  h.session.set_auth_mechanisms({"LOGIN"});
  h.session.on_tls_started(tls13());
  EXPECT_EQ(h.session.auth_user(), "");
  EXPECT_TRUE(h.session.tls_active());
  EXPECT_EQ(h.session.take_output(), "");
  // The pre-TLS EHLO is forgotten; the narrowed mechanism list applies.
  expect(h, "AUTH LOGIN\r\n", "503 5.5.1 Send HELO/EHLO first");
  ready(h);
  expect_exact(h, "AUTH PLAIN "s + kDemoPlain + "\r\n",
               "504 5.5.4 Unrecognized authentication type\r\n");
  expect_exact(h, "AUTH LOGIN ZGVtbw==\r\n", "334 UGFzc3dvcmQ6\r\n");
  expect_exact(h, "cGFzcw==\r\n", "235 2.7.0 Authentication successful\r\n");
  // Auth settings survive: STARTTLS is refused inside TLS and changes nothing.
  expect(h, "STARTTLS\r\n", "503 5.5.1 TLS already active");
  EXPECT_EQ(h.session.auth_user(), "demo@localhost");
  expect(h, "MAIL FROM:<demo@localhost>\r\n", "250 2.1.0");
}

TEST(ServerSessionAuthShutdown, DuringAuthenticateTheResultComesFirst) {
  Harness h(submission(), tls13());
  h.manual_auth = true;
  ready(h);
  EXPECT_EQ(h.send("AUTH PLAIN "s + kDemoPlain + "\r\nNOOP\r\n"), "");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  h.session.on_shutdown();
  EXPECT_EQ(h.session.action(), Action::kAuthenticate);
  EXPECT_EQ(h.session.take_output(), "");
  h.session.on_auth_result(h.authenticator.step(h.session.take_auth_request()));
  EXPECT_EQ(h.session.take_output(),
            "235 2.7.0 Authentication successful\r\n421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionAuthShutdown, DuringAuthenticateFailureThenClose) {
  Harness h(submission(), tls13());
  h.manual_auth = true;
  ready(h);
  h.send("AUTH PLAIN YQ==\r\n");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  h.session.on_shutdown();
  h.session.on_auth_result(AuthResult{Kind::kBadCredentials, {}, {}});
  expect_output(h.session.take_output(), {"535 5.7.8", "421 4.3.2"});
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionAuthShutdown, DuringAuthenticateWithAChallengeResult) {
  // Regression: a challenge result left the session waiting for the client's next response
  // with the shutdown still pending; it now closes like a shutdown in that state would.
  Harness h(submission(), tls13());
  h.manual_auth = true;
  ready(h);
  h.send("AUTH LOGIN\r\n");
  ASSERT_EQ(h.session.action(), Action::kAuthenticate);
  h.session.on_shutdown();
  h.session.on_auth_result(AuthResult{Kind::kChallenge, "VXNlcm5hbWU6", {}});
  EXPECT_EQ(h.session.take_output(),
            "334 VXNlcm5hbWU6\r\n421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

TEST(ServerSessionAuthShutdown, WhileWaitingForAResponseClosesAtOnce) {
  Harness h(submission(), tls13());
  ready(h);
  expect_exact(h, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
  h.session.on_shutdown();
  EXPECT_EQ(h.session.take_output(), "421 4.3.2 mx.test Service shutting down\r\n");
  EXPECT_EQ(h.session.action(), Action::kClose);
}

}  // namespace
}  // namespace sealpost::smtp
