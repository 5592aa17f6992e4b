// libFuzzer target for ServerSession: the input is one client's bytes, run through a simulated
// driver three times — whole, in small chunks, byte by byte (inputs up to 2 KiB) — checking
// invariants on every step and that the transcripts agree (bugs hide at buffer boundaries).
// Input layout: [flags][c0][c1][c2] then the session bytes; chunk sizes cycle c0..c2 (%32 + 1).
// The high bits of c0 and c1, unused by the chunk sizes, configure AUTH (AuthFlag below).
//
// AUTH: the simulated authenticator answers each AuthRequest from the request alone (mechanism,
// initial flag, response text) and the number of steps in the current exchange, never from the
// input position or the chunk boundaries, so the three runs see the same results for the same
// request sequence and their transcripts stay comparable. Results cover every AuthResult kind.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/server_session.hpp"

namespace {

using namespace sealpost::smtp;

enum Flag : std::uint8_t {
  kStartTlsOffered = 1 << 0,
  kTlsRequired = 1 << 1,
  kImplicitTls = 1 << 2,
  kSmallLimits = 1 << 3,
  kFailEvenEnqueues = 1 << 4,  // every second Enqueue fails with 452 4.3.1
  kShutdownAtEnd = 1 << 5,
  kTimeoutAtEnd = 1 << 6,
  kHandshakeFails = 1 << 7,
};

// In c0 (bits 5..7).
enum AuthFlag : std::uint8_t {
  kAuthOffered = 1 << 5,     // PLAIN and LOGIN on this listener (inside TLS)
  kAuthRequired = 1 << 6,    // MAIL only after AUTH (role submission)
  kShutdownInAuth = 1 << 7,  // on_shutdown() while the first Authenticate action is pending
};
// In c1: at STARTTLS the driver narrows the mechanism list (set_auth_mechanisms).
constexpr std::uint8_t kNarrowAtTls = 1 << 5;

constexpr std::size_t kBufferBound = 64 * 1024;
constexpr std::size_t kMaxAuthLine = 12288;
constexpr const char* kDemoPlain = "AGRlbW8AcGFzcw==";  // \0demo\0pass

// The authenticator: a pure function of the request and the exchange's step count.
AuthResult authenticate(const AuthRequest& request, std::size_t step) {
  using Kind = AuthResult::Kind;
  if (request.response && *request.response == kDemoPlain)
    return AuthResult{Kind::kSuccess, {}, "demo@localhost"};
  if (!request.response) return AuthResult{Kind::kChallenge, "VXNlcm5hbWU6", {}};
  if (step >= 4) return AuthResult{Kind::kBadCredentials, {}, {}};  // exchanges end
  unsigned char c = request.response->empty() ? 0 : (*request.response)[0];
  switch (c % 8) {
    case 0:
    case 1:
      return AuthResult{Kind::kChallenge, request.initial ? "" : "UGFzc3dvcmQ6", {}};
    case 2:
      return AuthResult{Kind::kSuccess, {}, request.mechanism == "LOGIN" ? "bob@localhost" : "u"};
    case 3:
      return AuthResult{Kind::kMalformed, {}, {}};
    case 4:
      return AuthResult{Kind::kTemporaryFailure, {}, {}};
    case 5:
      return AuthResult{Kind::kTooWeak, {}, {}};
    case 6:
      return AuthResult{Kind::kEncryptionNeeded, {}, {}};
    default:
      return AuthResult{Kind::kBadCredentials, {}, {}};
  }
}

class Policy final : public SessionPolicy {
 public:
  Reply check_recipient(const Mailbox& rcpt, const std::string& user) const override {
    if (rcpt.domain.empty()) return make_reply(250, "2.1.5", "Ok");
    if (!is_ascii_case_equal(rcpt.domain, "localhost")) {
      if (!user.empty()) return make_reply(250, "2.1.5", "Ok");  // authenticated relay
      return make_reply(554, "5.7.1", "Relay access denied");
    }
    if (rcpt.local_part == "busy") return make_reply(450, "4.2.1", "Try later");
    static const std::set<std::string> kLocal{"demo", "alice", "bob", "postmaster"};
    if (!kLocal.contains(ascii_lower(rcpt.local_part))) return make_reply(550, "5.1.1", "Unknown");
    return make_reply(250, "2.1.5", "Ok");
  }
  // An authenticated user may send as itself or with the null path.
  Reply check_sender(const Mailbox& sender, bool null_path,
                     const std::string& user) const override {
    if (user.empty() || null_path || sender.text() == user) return make_reply(250, "2.1.0", "Ok");
    return make_reply(553, "5.7.1", "Sender address not owned by user");
  }
};

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant violated: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// Replies are CRLF-terminated lines "DDD-text" / "DDD text"; a multi-line reply keeps one code;
// reply text holds no control characters (nothing from the client may forge a line).
void check_output(std::string_view out) {
  std::string_view pending_code;
  while (!out.empty()) {
    std::size_t end = out.find("\r\n");
    if (end == std::string_view::npos) fail("reply bytes without CRLF", out);
    std::string_view line = out.substr(0, end);
    out.remove_prefix(end + 2);
    if (line.size() < 4 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9' || (line[3] != ' ' && line[3] != '-'))
      fail("malformed reply line", line);
    for (unsigned char c : line)
      if (c < 32 || c == 127) fail("control byte in reply", line);
    if (!pending_code.empty() && line.substr(0, 3) != pending_code)
      fail("multi-line reply changes code", line);
    pending_code = line[3] == '-' ? line.substr(0, 3) : std::string_view();
  }
  if (!pending_code.empty()) fail("multi-line reply not finished");
}

// One simulated connection; returns a transcript of replies and queued transactions.
std::string run(std::uint8_t flags, std::uint8_t auth_flags, bool narrow_at_tls,
                std::string_view input, const std::function<std::size_t(std::size_t)>& chunk_size) {
  SessionSettings settings;
  settings.hostname = "mx.test";
  settings.starttls_offered = flags & kStartTlsOffered;
  settings.tls_required = flags & kTlsRequired;
  if (flags & kSmallLimits) {
    settings.max_message_size = 300;
    settings.max_recipients = 2;
    settings.max_bad_commands = 4;
  } else {
    settings.max_message_size = 64 * 1024;
  }
  std::vector<std::string> mechanisms;
  if (auth_flags & kAuthOffered) mechanisms = {"PLAIN", "LOGIN"};
  settings.auth_mechanisms = mechanisms;
  settings.auth_required = auth_flags & kAuthRequired;
  TlsFacts tls;
  if (flags & kImplicitTls) tls = TlsFacts{true, "TLSv1.3", "TLS_AES_128_GCM_SHA256", 128, ""};
  Policy policy;
  ServerSession session(settings, policy, "192.0.2.1", tls);
  std::string transcript;
  std::size_t enqueues = 0;
  bool closed = false;
  bool flushed_after_close = false;
  bool shutdown_in_auth_done = false;
  std::string exchange_mechanism;  // non-empty while a 334 awaits the client's response
  std::size_t exchange_steps = 0;

  auto collect = [&] {
    std::string out = session.take_output();
    check_output(out);
    if (flushed_after_close && !out.empty()) fail("output after close", out);
    transcript += out;
    flushed_after_close = closed;
    session.take_log();
  };
  auto drive = [&] {
    for (;;) {
      switch (session.action()) {
        case Action::kNone:
          return;
        case Action::kClose:
          closed = true;
          return;
        case Action::kEnqueue: {
          collect();  // replies that precede the commit
          Transaction t = session.take_transaction();
          if (t.recipients.empty()) fail("enqueue without recipients");
          if (t.recipients.size() > settings.max_recipients) fail("too many recipients queued");
          if (t.body.size() > settings.max_message_size) fail("oversized body queued");
          if (t.auth_user != session.auth_user())
            fail("transaction auth_user is not the session's");
          if (settings.auth_required && t.auth_user.empty()) fail("unauthenticated submission");
          if (!t.auth_user.empty() && !t.tls.active) fail("authenticated without TLS");
          transcript += "{queued from=" + t.reverse_path +
                        " rcpts=" + std::to_string(t.recipients.size()) +
                        " body=" + std::to_string(std::hash<std::string>{}(t.body)) + "}";
          ++enqueues;
          if ((flags & kFailEvenEnqueues) && enqueues % 2 == 0)
            session.on_enqueue_failed(make_reply(452, "4.3.1", "Insufficient system storage"));
          else
            session.on_enqueued("Q1");
          break;
        }
        case Action::kAuthenticate: {
          collect();
          AuthRequest r = session.take_auth_request();
          if (!session.tls_active()) fail("AUTH step without TLS");
          if (!session.auth_user().empty()) fail("AUTH step when already authenticated");
          if (session.in_transaction()) fail("AUTH step inside a transaction");
          if (std::find(mechanisms.begin(), mechanisms.end(), r.mechanism) == mechanisms.end())
            fail("AUTH step for a mechanism not offered", r.mechanism);
          if (r.response && (r.response->size() + 2 > kMaxAuthLine ||
                             r.response->find("\r\n") != std::string::npos))
            fail("AUTH response over the line limit or with a CRLF", *r.response);
          if (!r.initial && r.mechanism != exchange_mechanism)
            fail("AUTH continuation outside its exchange", r.mechanism);
          if (r.initial) exchange_steps = 0;
          AuthResult result = authenticate(r, exchange_steps++);
          transcript += "{auth " + r.mechanism + (r.initial ? " initial " : " next ") +
                        (r.response ? std::to_string(std::hash<std::string>{}(*r.response)) : "-") +
                        "}";
          bool shutdown = (auth_flags & kShutdownInAuth) && !shutdown_in_auth_done;
          if (shutdown) {
            shutdown_in_auth_done = true;
            session.on_shutdown();
            if (session.action() != Action::kAuthenticate) fail("shutdown interrupted AUTH");
            if (!session.take_output().empty()) fail("output during an AUTH step");
          }
          exchange_mechanism =
              result.kind == AuthResult::Kind::kChallenge ? r.mechanism : std::string();
          session.on_auth_result(result);
          if (result.kind == AuthResult::Kind::kSuccess && session.auth_user() != result.user)
            fail("AUTH success did not set the user");
          if (result.kind != AuthResult::Kind::kSuccess && !session.auth_user().empty())
            fail("AUTH failure set a user");
          if (shutdown && session.action() != Action::kClose)
            fail("shutdown during AUTH did not close after the result");
          break;
        }
        case Action::kStartTls:
          collect();
          if (flags & kHandshakeFails) {
            session.on_tls_failed();
          } else {
            if (narrow_at_tls && !mechanisms.empty()) {
              mechanisms = {"LOGIN", "SCRAM-SHA-256"};
              session.set_auth_mechanisms(mechanisms);
            }
            session.on_tls_started(TlsFacts{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, ""});
            if (session.buffered() != 0) fail("bytes survived the TLS handshake");
            if (!session.auth_user().empty()) fail("a user survived the TLS handshake");
          }
          break;
      }
    }
  };

  session.greet();
  collect();
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < input.size() && !closed; ++i) {
    std::size_t n = std::min(chunk_size(i), input.size() - pos);
    session.receive(input.substr(pos, n));
    pos += n;
    if (session.buffered() >= kBufferBound + n) fail("unbounded input buffer");
    drive();
    collect();
  }
  if (!closed && (flags & kShutdownAtEnd)) {
    session.on_shutdown();
    drive();
    collect();
  }
  if (!closed && (flags & kTimeoutAtEnd)) {
    session.on_idle_timeout();
    if (session.action() != Action::kClose) fail("idle timeout did not close");
    drive();
    collect();
  }
  return transcript;
}

// Whether a pipelined STARTTLS is refused depends on where the client's bytes were cut, so
// transcripts are only comparable up to the first STARTTLS verdict.
std::string_view before_starttls(std::string_view transcript) {
  std::size_t cut = std::min(transcript.find("220 2.0.0 Ready to start TLS\r\n"),
                             transcript.find("554 5.5.1 Pipelining after STARTTLS"));
  return transcript.substr(0, cut);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  const std::uint8_t chunks[3] = {data[1], data[2], data[3]};
  const std::uint8_t auth_flags = data[1] & (kAuthOffered | kAuthRequired | kShutdownInAuth);
  const bool narrow = (data[2] & kNarrowAtTls) != 0;
  std::string_view input(reinterpret_cast<const char*>(data) + 4, size - 4);

  std::string whole =
      run(flags, auth_flags, narrow, input, [&](std::size_t) { return input.size(); });
  std::string pieces =
      run(flags, auth_flags, narrow, input, [&](std::size_t i) { return chunks[i % 3] % 32u + 1; });
  // Byte by byte costs O(line length) per byte while a command line is incomplete; the chunked
  // run covers 1-byte pieces on long inputs (chunk bytes 0), so this pass keeps to short ones.
  if (input.size() > 2048) return 0;
  std::string bytes =
      run(flags, auth_flags, narrow, input, [](std::size_t) { return std::size_t{1}; });

  if (before_starttls(whole) != before_starttls(pieces))
    fail("whole and chunked runs differ",
         std::string(before_starttls(whole)) + "\n----\n" + std::string(before_starttls(pieces)));
  if (before_starttls(whole) != before_starttls(bytes))
    fail("whole and byte-by-byte runs differ",
         std::string(before_starttls(whole)) + "\n----\n" + std::string(before_starttls(bytes)));
  return 0;
}
