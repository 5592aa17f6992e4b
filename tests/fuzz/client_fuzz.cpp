// libFuzzer target for ClientSession (and its ReplyParser): the input is a server's bytes, fed
// to a client with two queued messages through a simulated driver three times — whole, in
// small chunks, byte by byte (inputs up to 2 KiB) — checking invariants at every step and that
// the runs agree. Input layout: [flags][c0][c1][c2] then the server bytes; chunk sizes cycle
// c0..c2 (%32 + 1); flags pick the client's policy, the high bits of c0 the fake SASL
// mechanism's behaviour. Two NULs in the server bytes (never valid in a reply) separate the
// server's turns: a turn is delivered only after the previous one, as if the server waited for
// our next command, so a well-formed dialogue runs to the end whole and chunked too. Messages
// added later on the same connection, and quit() when the input says: client_reuse_fuzz.
//
// Two failures legitimately depend on where the bytes were cut, because they detect bytes the
// server sent before it could have seen our command (after STARTTLS's 220: response
// injection). A run that hit one stops early, so its output must be a prefix of the others';
// runs without one must agree exactly.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "client_fuzz_support.hpp"
#include "smtp/client_session.hpp"
#include "smtp/reply_parser.hpp"

namespace {

using namespace sealpost::smtp;
using namespace sealpost::smtp::fuzzing;

std::vector<OutgoingMessage> messages() {
  return {
      OutgoingMessage{"alice@example.org",
                      {"bob@example.org", "carol@example.org"},
                      "Subject: a\r\n\r\n.\r\n..x\r\nbody\r\n",
                      false,
                      false},
      OutgoingMessage{"",
                      {"\xe7\x94\xa8@example.org"},
                      "caf\xc3\xa9\r\n" + std::string(300, 'y'),
                      false,
                      false},
  };
}

Run run(std::uint8_t flags, std::uint8_t auth_flags, std::string_view input,
        const std::function<std::size_t(std::size_t)>& chunk_size) {
  ClientSettings settings = settings_for(flags);
  FuzzAuthenticator authenticator(auth_flags);
  ClientSession session(settings, (flags & kWithAuth) ? &authenticator : nullptr);
  auto msgs = messages();
  for (auto& m : msgs) session.add_message(m);
  session.quit();

  Run r;
  bool tls = settings.tls == TlsMode::kImplicit;
  bool finished = false;
  auto collect = [&] {
    std::string out = session.take_output();
    if (finished && !out.empty()) fail("output after the session ended", out);
    if (!tls && settings.tls == TlsMode::kRequireStartTls) check_plaintext(out);
    if (!tls && out.find("AUTH ") != std::string::npos) fail("AUTH without TLS", out);
    r.output += out;
    session.take_log();
  };
  auto drive = [&] {
    collect();
    if (session.action() == ClientAction::kStartTls) {
      if (session.capabilities().starttls == false) fail("STARTTLS not offered but started");
      if (flags & kHandshakeFails) {
        session.on_tls_failed();
      } else {
        session.on_tls_started();
        tls = true;
        if (session.capabilities().esmtp) fail("capabilities survived the handshake");
        r.output += "{tls}";
      }
      collect();
    }
    if (session.action() == ClientAction::kClose || session.action() == ClientAction::kDone)
      finished = true;
  };

  collect();
  std::size_t chunk = 0;
  while (!input.empty() && !finished) {
    std::size_t end = input.find(kTurn);
    std::string_view turn = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 2);
    for (std::size_t pos = 0; pos < turn.size() && !finished;) {
      std::size_t n = std::min(chunk_size(chunk++), turn.size() - pos);
      session.receive(turn.substr(pos, n));
      pos += n;
      drive();
    }
  }
  if (!finished) {
    if (session.timeout().count() < 0) fail("negative timeout");
    session.on_closed();
    drive();
  }
  if (!finished) fail("session neither done nor closed after on_closed()");

  const SessionFailure& f = session.failure();
  if ((session.action() == ClientAction::kDone) != (f.reason == FailureReason::kNone))
    fail("kDone and failure disagree");
  r.cut_dependent = cut_dependent(f);
  if (session.authenticated() && !session.tls_active() && !settings.allow_auth_without_tls)
    fail("authenticated without TLS");
  const auto& results = session.results();
  if (results.size() != msgs.size()) fail("result count");
  for (std::size_t i = 0; i < results.size(); ++i) {
    const TransactionResult& t = results[i];
    if (t.outcome == Outcome::kPending) fail("transaction still pending at the end");
    if ((t.outcome == Outcome::kDelivered) != (t.reason == FailureReason::kNone))
      fail("outcome and reason disagree");
    if (t.recipients.size() != msgs[i].recipients.size()) fail("recipient count");
    for (const auto& rr : t.recipients)
      if (rr.outcome == Outcome::kPending) fail("recipient still pending");
    if (t.outcome == Outcome::kDelivered && !t.reply.positive()) fail("delivered without 2xx");
    if (t.outcome == Outcome::kDelivered && settings.tls == TlsMode::kRequireStartTls && !tls)
      fail("delivered in plaintext although TLS is required");
    r.results += std::to_string(static_cast<int>(t.outcome)) + "/" +
                 std::to_string(static_cast<int>(t.reason)) + "/" + t.reply.summary() + ";";
  }
  r.results += std::string(failure_reason_name(f.reason)) + ":" + f.detail;
  return r;
}

// The parser alone: the same replies and error whole and byte by byte, within its limits.
void check_parser(std::string_view input) {
  ReplyParser whole, bytes;
  whole.feed(input);
  std::vector<Reply> a, b;
  while (auto r = whole.next()) a.push_back(*r);
  for (char c : input) {
    bytes.feed(std::string_view(&c, 1));
    while (auto r = bytes.next()) b.push_back(*r);
  }
  if (whole.error() != bytes.error()) fail("parser errors differ");
  if (a.size() != b.size()) fail("parser reply counts differ");
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].code != b[i].code || a[i].enhanced != b[i].enhanced || a[i].lines != b[i].lines)
      fail("parser replies differ", a[i].summary() + " / " + b[i].summary());
    if (a[i].code < 200 || a[i].code > 559 || a[i].lines.empty()) fail("bad parsed reply");
    if (!a[i].enhanced.empty() && !is_enhanced_status_code(a[i].enhanced))
      fail("bad enhanced code", a[i].enhanced);
    for (const auto& line : a[i].lines)
      if (line.size() > kMaxReplyLine || line.find_first_of("\r\n") != std::string::npos)
        fail("bad reply line", line);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  const std::uint8_t chunks[3] = {data[1], data[2], data[3]};
  const std::uint8_t auth_flags = data[1] & kAuthFlagMask;
  std::string_view input(reinterpret_cast<const char*>(data) + 4, size - 4);

  Run whole = run(flags, auth_flags, input, [&](std::size_t) { return input.size(); });
  static const bool debug = std::getenv("CLIENT_FUZZ_DEBUG") != nullptr;  // print a replay
  if (debug) std::fprintf(stderr, "%s\n== %s\n", whole.output.c_str(), whole.results.c_str());
  Run pieces =
      run(flags, auth_flags, input, [&](std::size_t i) { return chunks[i % 3] % 32u + 1; });
  compare(whole, pieces, "whole and chunked runs differ");
  if (input.size() > 2048) return 0;
  Run bytes = run(flags, auth_flags, input, [](std::size_t) { return std::size_t{1}; });
  compare(whole, bytes, "whole and byte-by-byte runs differ");
  compare(pieces, bytes, "chunked and byte-by-byte runs differ");
  check_parser(input);
  return 0;
}
