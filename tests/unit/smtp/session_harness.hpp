// Test harness for ServerSession: a fake SessionPolicy, a scripted fake authenticator, a minimal
// driver (performs Enqueue and Authenticate actions like src/net would) and dialogue helpers:
// expect(h, "MAIL FROM:<a@b>\r\n", "250 2.1.0").
// Shared by server_session_test.cpp, server_session_content_test.cpp and
// server_session_auth_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <source_location>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::smtp::testing {

// Accepts mailboxes @localhost from a fixed set; 550 5.1.1 for other local names, 554 5.7.1
// (relay denied) for any other domain; "busy@localhost" fails temporarily; bare <Postmaster> ok.
class FakePolicy final : public SessionPolicy {
 public:
  Reply check_recipient(const Mailbox& rcpt, const std::string& user) const override {
    if (rcpt.domain.empty()) return make_reply(250, "2.1.5", "Ok");
    if (!is_ascii_case_equal(rcpt.domain, "localhost")) {
      if (!user.empty()) return make_reply(250, "2.1.5", "Ok");  // authenticated relay
      return make_reply(554, "5.7.1", "Relay access denied");
    }
    if (rcpt.local_part == "busy") return make_reply(450, "4.2.1", "Mailbox busy, try later");
    if (!mailboxes_.contains(ascii_lower(rcpt.local_part)))
      return make_reply(550, "5.1.1", "User unknown");
    return make_reply(250, "2.1.5", "Ok");
  }
  // An authenticated user may send as itself (user@localhost) or with the null path.
  Reply check_sender(const Mailbox& sender, bool null_path,
                     const std::string& user) const override {
    if (user.empty() || null_path || sender.text() == user) return make_reply(250, "2.1.0", "Ok");
    return make_reply(553, "5.7.1", "Sender address not owned by user " + user);
  }

 private:
  std::set<std::string> mailboxes_{
      "demo",         "alice",      "bob",
      "carol",        "dave",       "erin",
      "\"john doe\"", "postmaster", "\xe7\x94\xa8\xe6\x88\xb7" /* 用户 */};
};

// Answers AuthRequests like src/net's Authenticator would, from a script:
//   PLAIN  without initial response: empty challenge ("334 "), then the response is checked;
//          "AGRlbW8AcGFzcw==" (\0demo\0pass) succeeds as demo@localhost.
//   LOGIN  challenges "VXNlcm5hbWU6" (Username:) unless the user came as initial response, then
//          "UGFzc3dvcmQ6" (Password:); user "ZGVtbw==" (demo) with "cGFzcw==" (pass) succeeds.
//   Any response listed in `special` gets that result kind ("!" is preset as kMalformed).
//   Anything else: kBadCredentials.
class FakeAuthenticator {
 public:
  AuthResult step(const AuthRequest& request) {
    requests.push_back(request);
    using Kind = AuthResult::Kind;
    if (request.initial) {
      login_user_.reset();
    }
    if (request.response) {
      auto it = special.find(*request.response);
      if (it != special.end()) return AuthResult{it->second, {}, {}};
    }
    if (request.mechanism == "PLAIN") {
      if (!request.response) return AuthResult{Kind::kChallenge, "", {}};
      if (*request.response == "AGRlbW8AcGFzcw==")
        return AuthResult{Kind::kSuccess, {}, "demo@localhost"};
      return AuthResult{Kind::kBadCredentials, {}, {}};
    }
    if (request.mechanism == "LOGIN") {
      if (!request.response) return AuthResult{Kind::kChallenge, "VXNlcm5hbWU6", {}};
      if (!login_user_) {
        login_user_ = *request.response;
        return AuthResult{Kind::kChallenge, "UGFzc3dvcmQ6", {}};
      }
      if (*login_user_ == "ZGVtbw==" && *request.response == "cGFzcw==")
        return AuthResult{Kind::kSuccess, {}, "demo@localhost"};
      return AuthResult{Kind::kBadCredentials, {}, {}};
    }
    return AuthResult{Kind::kBadCredentials, {}, {}};
  }

  std::vector<AuthRequest> requests;
  std::map<std::string, AuthResult::Kind> special{{"!", AuthResult::Kind::kMalformed}};

 private:
  std::optional<std::string> login_user_;
};

inline SessionSettings test_settings() {
  SessionSettings s;
  s.hostname = "mx.test";
  s.max_message_size = 10000;
  s.max_recipients = 3;
  s.max_bad_commands = 20;
  return s;
}

// One session plus the driver's side of it.
struct Harness {
  explicit Harness(SessionSettings settings = test_settings(), TlsFacts tls = {})
      : session(std::move(settings), policy, "192.0.2.7", std::move(tls)) {
    session.greet();
    greeting = session.take_output();
  }

  // Feeds bytes, performs Enqueue actions (queue ids Q1, Q2, ...) unless manual_enqueue, and
  // returns all reply bytes produced.
  std::string send(std::string_view bytes) {
    session.receive(bytes);
    drive();
    return session.take_output();
  }

  void drive() {
    for (;;) {
      if (!manual_enqueue && session.action() == Action::kEnqueue) {
        queued.push_back(session.take_transaction());
        session.on_enqueued("Q" + std::to_string(queued.size()));
      } else if (!manual_auth && session.action() == Action::kAuthenticate) {
        session.on_auth_result(authenticator.step(session.take_auth_request()));
      } else {
        return;
      }
    }
  }

  FakePolicy policy;
  ServerSession session;
  std::string greeting;
  std::vector<Transaction> queued;
  bool manual_enqueue = false;
  FakeAuthenticator authenticator;
  bool manual_auth = false;  // leave Authenticate actions to the test
};

// Escapes CR, LF and other control bytes so failures are readable.
inline std::string printable(std::string_view s) {
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 32 || c == 127) {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out.size() > 600 ? out.substr(0, 600) + "..." : out;
}

// Splits wire output into replies; a multi-line reply ("250-a\r\n250 b\r\n") is one element.
// A trailing fragment without CRLF is returned as its own element (and fails any prefix check
// that expects CRLF-terminated replies).
inline std::vector<std::string> split_replies(std::string_view out) {
  std::vector<std::string> replies;
  std::string current;
  while (!out.empty()) {
    std::size_t end = out.find("\r\n");
    if (end == std::string_view::npos) {
      replies.push_back(current + std::string(out));
      return replies;
    }
    std::string_view line = out.substr(0, end + 2);
    out.remove_prefix(end + 2);
    current += line;
    if (line.size() < 4 || line[3] != '-') replies.push_back(std::exchange(current, {}));
  }
  if (!current.empty()) replies.push_back(current);
  return replies;
}

// Sends `in`; expects exactly one reply, starting with `prefix`.
inline void expect(Harness& h, std::string_view in, std::string_view prefix,
                   std::source_location loc = std::source_location::current()) {
  std::string out = h.send(in);
  auto replies = split_replies(out);
  if (replies.size() != 1 || !replies[0].starts_with(prefix))
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
        << "sent:     " << printable(in) << "\nexpected: one reply starting " << printable(prefix)
        << "\ngot:      " << printable(out);
}

// Sends `in`; expects exactly `exact` back.
inline void expect_exact(Harness& h, std::string_view in, std::string_view exact,
                         std::source_location loc = std::source_location::current()) {
  std::string out = h.send(in);
  if (out != exact)
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
        << "sent:     " << printable(in) << "\nexpected: " << printable(exact)
        << "\ngot:      " << printable(out);
}

// Checks already-taken output: one reply per prefix, in order, nothing more.
inline void expect_output(std::string_view out, std::initializer_list<std::string_view> prefixes,
                          std::source_location loc = std::source_location::current()) {
  auto replies = split_replies(out);
  bool ok = replies.size() == prefixes.size();
  std::size_t i = 0;
  for (auto p : prefixes) {
    if (!ok) break;
    ok = replies[i++].starts_with(p);
  }
  if (!ok) {
    std::string want;
    for (auto p : prefixes) want += "[" + printable(p) + "] ";
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
        << "expected: " << want << "\ngot:      " << printable(out);
  }
}

// Sends `in` (typically a pipelined group); expects one reply per prefix, in order.
inline void expect_replies(Harness& h, std::string_view in,
                           std::initializer_list<std::string_view> prefixes,
                           std::source_location loc = std::source_location::current()) {
  expect_output(h.send(in), prefixes, loc);
}

inline void ready(Harness& h, std::source_location loc = std::source_location::current()) {
  expect(h, "EHLO client.test\r\n", "250-mx.test", loc);
}

// EHLO, MAIL FROM:<alice@example.org>, RCPT TO:<demo@localhost>.
inline void begin(Harness& h, std::source_location loc = std::source_location::current()) {
  ready(h, loc);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0", loc);
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5", loc);
}

// Runs a whole client input cut at the given offsets (one receive() per piece); returns the
// output. Transactions land in h.queued.
inline std::string run_pieces(Harness& h, std::string_view input,
                              const std::vector<std::size_t>& cuts) {
  std::string out;
  std::size_t pos = 0;
  for (std::size_t cut : cuts) {
    out += h.send(input.substr(pos, cut - pos));
    pos = cut;
  }
  out += h.send(input.substr(pos));
  return out;
}

inline std::string run_bytewise(Harness& h, std::string_view input) {
  std::string out;
  for (char c : input) out += h.send(std::string_view(&c, 1));
  return out;
}

}  // namespace sealpost::smtp::testing
