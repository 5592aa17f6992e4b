// libFuzzer target for ClientSession connection reuse (RFC 5321 §3.3: several transactions on
// one connection): the input is a server's turns and, between them, the caller's decisions —
// add messages (to an idle() session, or queued while one is busy), quit(), or a timeout —
// fed whole, in small chunks and byte by byte (inputs up to 2 KiB) and checked at every step
// against the contracts of client_session.hpp. client_fuzz covers the first transaction's
// protocol in depth; this one covers what happens after it.
//
// Input layout: [flags][c0][c1][c2][control] server bytes, then repeatedly "\0\0" [control]
// server bytes. flags, c0..c2 as in client_fuzz (client_fuzz_support.hpp); bit 5 of c1 (chunk
// sizes use its low five bits) makes the client speak LMTP (RFC 2033). A control byte acts
// before the turn that follows it (the first one before the greeting):
//   bits 0..1  add that many messages; the k-th from template (bits 3..4) + k, modulo 4
//   bit 2      ... only while the session is idle() (clear: queue them whatever its state)
//   bit 5      quit() after adding
//   bit 7      quit() before adding (the messages are added after it), unless bit 6 is set too:
//   bits 6+7   the reply timer expires instead (on_timeout(), if a reply is awaited)
// At the end of the input the server closes the connection (on_closed()).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client_fuzz_support.hpp"
#include "smtp/client_session.hpp"

namespace {

using namespace sealpost::smtp;
using namespace sealpost::smtp::fuzzing;

constexpr std::uint8_t kLmtp = 1 << 5;  // in c1

enum Control : std::uint8_t {
  kAddCountMask = 3,
  kOnlyWhenIdle = 1 << 2,
  kTemplateShift = 3,  // two bits
  kQuitAfter = 1 << 5,
  kQuitBefore = 1 << 7,
  kTimeoutMask = 3 << 6,  // both bits
};

// Distinct reverse-paths, so a MAIL FROM names its template; no content holds the words scan()
// looks for.
OutgoingMessage message_template(std::size_t k) {
  switch (k % 4) {
    case 0:
      return {"alice@example.org",
              {"bob@example.org", "carol@example.org"},
              "Subject: a\r\n\r\n.\r\n..x\r\nbody\r\n",
              false,
              false};
    case 1:  // needs SMTPUTF8 and 8BITMIME: refused locally by a server without them
      return {"",
              {"\xe7\x94\xa8@example.org"},
              "caf\xc3\xa9\r\n" + std::string(300, 'y'),
              false,
              false};
    case 2: {  // DSN parameters, passed on when the server offers DSN
      OutgoingMessage m{
          "dave@example.org", {"erin@example.org"}, "Subject: d\r\n\r\nhi", false, false};
      m.ret = Ret::kHdrs;
      m.envid = "env+1";
      m.recipient_dsn = {RecipientDsn{kNotifySuccess | kNotifyFailure, "rfc822", "x@y.org"}};
      return m;
    }
    default:  // REQUIRETLS (RFC 8689), empty content
      return {"frank@example.org", {"gina@example.org", "hank@example.org"}, "", false, true};
  }
}

struct Snapshot {
  Outcome outcome;
  FailureReason reason;
  std::string reply;
  bool mail_accepted;
  std::vector<Outcome> recipients;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const TransactionResult& t) {
  Snapshot s{t.outcome, t.reason, t.reply.summary(), t.mail_accepted, {}};
  for (const auto& rr : t.recipients) s.recipients.push_back(rr.outcome);
  return s;
}

class Driver {
 public:
  Driver(std::uint8_t flags, std::uint8_t auth_flags, bool lmtp)
      : flags_(flags),
        settings_(settings_for(flags, lmtp)),
        authenticator_(auth_flags),
        session_(settings_, (flags & kWithAuth) ? &authenticator_ : nullptr),
        tls_(settings_.tls == TlsMode::kImplicit) {}

  bool finished() const { return finished_; }

  void control(std::uint8_t c) {
    if ((c & kTimeoutMask) == kTimeoutMask) {
      // The driver arms its timer only while a reply is awaited (timeout() > 0).
      if (session_.timeout().count() == 0) return;
      r_.output += "{timeout}";
      session_.on_timeout();
      step();
      return;
    }
    if (c & kQuitBefore) quit();
    for (std::size_t k = 0; k < (c & kAddCountMask); ++k) {
      if ((c & kOnlyWhenIdle) && !session_.idle()) break;
      add(((c >> kTemplateShift) & 3) + k);
    }
    if (c & kQuitAfter) quit();
  }

  void receive(std::string_view bytes) {
    session_.receive(bytes);
    step();
  }

  // The connection ends; then a message added to the finished session fails at once.
  Run finish() {
    if (!finished_) {
      r_.output += "{eof}";
      session_.on_closed();
      step();
    }
    if (!finished_) fail("session neither done nor closed after on_closed()");
    const SessionFailure& f = session_.failure();
    if ((session_.action() == ClientAction::kDone) != (f.reason == FailureReason::kNone))
      fail("kDone and failure disagree");
    if (session_.action() == ClientAction::kDone && !quit_called_) fail("kDone without quit()");
    r_.cut_dependent = cut_dependent(f);
    // Unmarked: a run cut short must stay a prefix of the others (compare()).
    std::size_t index = add(0, false);
    if (session_.results()[index].outcome == Outcome::kPending)
      fail("message added to a finished session is pending");
    if (session_.authenticated() && !session_.tls_active()) fail("authenticated without TLS");

    for (std::size_t i = 0; i < session_.results().size(); ++i) {
      const TransactionResult& t = session_.results()[i];
      if (t.outcome == Outcome::kPending) fail("transaction still pending at the end");
      r_.results += std::to_string(static_cast<int>(t.outcome)) + "/" +
                    std::to_string(static_cast<int>(t.reason)) + "/" + t.reply.summary() + "/" +
                    (t.mail_accepted ? "m" : "-") + ";";
    }
    r_.results += std::string(failure_reason_name(f.reason)) + ":" + f.detail;
    return r_;
  }

 private:
  // add_message, checked: its index, and an idle session either starts the transaction at
  // once or decides the message locally (client_session.hpp, add_message and idle()).
  std::size_t add(std::size_t template_index, bool marked = true) {
    OutgoingMessage m = message_template(template_index);
    const std::size_t recipients = m.recipients.size();
    const bool was_idle = session_.idle();
    const bool was_failed = session_.failure().reason != FailureReason::kNone;
    const bool was_finished = finished_;
    const std::size_t before = session_.results().size();
    if (marked) r_.output += "{+" + std::to_string(template_index % 4) + "}";
    std::size_t index = session_.add_message(std::move(m));
    templates_.push_back(template_index % 4);
    if (index != before) fail("add_message returned the wrong index");
    if (session_.results().size() != templates_.size()) fail("results count != messages added");
    const TransactionResult& t = session_.results()[index];
    if (t.recipients.size() != recipients) fail("recipient count");
    if (was_failed && t.outcome == Outcome::kPending)
      fail("message added after a failure did not fail at once");
    std::string out = step();
    if (was_finished && !out.empty()) fail("output after the session ended", out);
    if (was_idle && t.outcome == Outcome::kPending && !finished_ &&
        out.find("MAIL FROM:<") == std::string::npos)
      fail("message added to an idle session did not start a transaction", out);
    return index;
  }

  void quit() {
    r_.output += "{quit}";
    quit_called_ = true;
    session_.quit();
    step();
  }

  // Takes the session's output and handles STARTTLS, as the real driver does; checks the
  // session after every event. Returns what the client wrote.
  std::string step() {
    std::string out = collect();
    if (session_.action() == ClientAction::kStartTls) {
      if (!session_.capabilities().starttls) fail("STARTTLS not offered but started");
      if (flags_ & kHandshakeFails) {
        session_.on_tls_failed();
      } else {
        session_.on_tls_started();
        tls_ = true;
        if (session_.capabilities().esmtp) fail("capabilities survived the handshake");
        r_.output += "{tls}";
      }
      out += collect();
    }
    ClientAction a = session_.action();
    if (a == ClientAction::kClose || a == ClientAction::kDone) finished_ = true;
    check_state(out);
    return out;
  }

  std::string collect() {
    std::string out = session_.take_output();
    session_.take_log();
    if (out.empty()) return out;
    if (finished_) fail("output after the session ended", out);
    if (quit_written_) fail("output after QUIT", out);
    if (!tls_ && settings_.tls == TlsMode::kRequireStartTls) check_plaintext(out);
    if (!tls_ && out.find("AUTH ") != std::string::npos) fail("AUTH without TLS", out);
    scan(out);
    r_.output += out;
    return out;
  }

  // MAIL FROM, RSET, QUIT and message data in the order written. No content holds a command
  // word, and a content's first line (templates 0..2) appears only in its own data; BDAT chunks
  // may split it, so "BDAT " counts as data too.
  void scan(std::string_view out) {
    static constexpr std::string_view kWords[] = {"MAIL FROM:<", "RSET\r\n", "QUIT\r\n", "BDAT "};
    std::size_t pos = 0;
    while (true) {
      std::size_t next = std::string_view::npos;
      std::size_t what = 0;  // index into kWords, or 4 + template
      for (std::size_t w = 0; w < 4; ++w) {
        std::size_t p = out.find(kWords[w], pos);
        if (p < next) next = p, what = w;
      }
      for (std::size_t k = 0; k < 3; ++k) {
        std::string content = message_template(k).content;
        std::size_t p = out.find(content.substr(0, content.find("\r\n") + 2), pos);
        if (p < next) next = p, what = 4 + k;
      }
      if (next == std::string_view::npos) return;
      if (quit_written_) fail("command after QUIT", out);
      pos = next + 1;
      if (what == 0) {
        std::size_t close = out.find('>', next);
        if (close == std::string_view::npos) fail("MAIL FROM without '>'", out);
        on_mail(out.substr(next + 11, close - next - 11));
        pos = close;
      } else if (what == 1) {
        rset_since_mail_ = true;
      } else if (what == 2) {
        on_quit();
        if (next + 6 != out.size()) fail("bytes after QUIT", out);
      } else {
        if (!last_mail_) fail("message data before any MAIL FROM", out);
        if (what >= 4 && templates_[*last_mail_] != what - 4)
          fail("data of another message in this transaction", out);
        data_sent_[*last_mail_] = true;
      }
    }
  }

  // RFC 5321 §3.3: one transaction at a time; §4.1.1.5: one the server still holds open (MAIL
  // accepted, message refused) is RSET before the next MAIL.
  void on_mail(std::string_view reverse_path) {
    const auto& results = session_.results();
    std::size_t from = last_mail_ ? *last_mail_ + 1 : 0;
    std::size_t i = from;
    while (i < templates_.size() && message_template(templates_[i]).reverse_path != reverse_path)
      ++i;
    if (i == templates_.size()) fail("MAIL FROM for no queued message", reverse_path);
    for (std::size_t k = from; k < i; ++k)  // skipped: decided without a byte sent
      if (results[k].outcome == Outcome::kPending || results[k].mail_accepted)
        fail("MAIL FROM skipped a message that was not refused locally");
    if (last_mail_) {
      const TransactionResult& prev = results[*last_mail_];
      if (prev.outcome == Outcome::kPending) fail("MAIL FROM while a transaction is still open");
      if (prev.mail_accepted && prev.outcome != Outcome::kDelivered && !rset_since_mail_)
        fail("MAIL FROM without RSET after a refused transaction");
    }
    last_mail_ = i;
    mail_sent_.resize(templates_.size());
    data_sent_.resize(templates_.size());
    mail_sent_[i] = true;
    rset_since_mail_ = false;
  }

  void on_quit() {
    quit_written_ = true;
    // A QUIT of the session's own making goes with a failure (kClose); else the caller asked.
    if (session_.action() != ClientAction::kClose && !quit_called_) fail("QUIT without quit()");
    for (const auto& t : session_.results())
      if (t.outcome == Outcome::kPending) fail("QUIT with a message still pending");
  }

  void check_state(std::string_view out) {
    const auto& results = session_.results();
    if (results.size() != templates_.size()) fail("results count != messages added");
    mail_sent_.resize(templates_.size());
    data_sent_.resize(templates_.size());
    bool pending = false;
    for (std::size_t i = 0; i < results.size(); ++i) {
      const TransactionResult& t = results[i];
      if (t.outcome == Outcome::kPending) {
        pending = true;
        continue;
      }
      // kPending until decided (client_session.hpp); once decided it stands.
      Snapshot s = snapshot(t);
      if (i < decided_.size() && decided_[i]) {
        if (!(*decided_[i] == s)) fail("a decided result changed", std::to_string(i));
      } else {
        decided_.resize(results.size());
        decided_[i] = s;
      }
      if ((t.outcome == Outcome::kDelivered) != (t.reason == FailureReason::kNone))
        fail("outcome and reason disagree");
      if (t.outcome == Outcome::kDelivered && !t.reply.positive()) fail("delivered without 2xx");
      if (t.outcome == Outcome::kDelivered && !t.mail_accepted)
        fail("delivered without MAIL accepted");
      if (t.mail_accepted && !mail_sent_[i]) fail("mail_accepted but its MAIL FROM never sent");
      // client_session.hpp, mail_accepted: a failure before MAIL's 2xx means nothing of the
      // message reached the server; and nothing is delivered whose data was not sent.
      if (data_sent_[i] && !t.mail_accepted) fail("message data sent before MAIL was accepted");
      if (t.outcome == Outcome::kDelivered && templates_[i] != 3 && !data_sent_[i])
        fail("delivered without its data sent");
      if (t.outcome == Outcome::kDelivered && settings_.tls == TlsMode::kRequireStartTls && !tls_)
        fail("delivered in plaintext although TLS is required");
      for (const auto& rr : t.recipients)
        if (rr.outcome == Outcome::kPending) fail("recipient pending in a decided transaction");
    }
    if (session_.timeout().count() < 0) fail("negative timeout");
    if (finished_ && pending) fail("session ended with a message pending");
    const bool idle = session_.idle();
    if (idle) {
      // client_session.hpp, idle(): ready, every message decided (a refused one RSET), nothing
      // awaited, no QUIT asked for.
      if (session_.action() != ClientAction::kNone) fail("idle but an action is due");
      if (pending) fail("idle with a message pending");
      if (quit_called_) fail("idle after quit()");
      if (session_.timeout().count() != 0) fail("idle while a reply is awaited");
      if (!out.empty()) fail("idle right after writing a command", out);
      if (last_mail_) {
        const TransactionResult& prev = results[*last_mail_];
        if (prev.mail_accepted && prev.outcome != Outcome::kDelivered && !rset_since_mail_)
          fail("idle with a refused transaction not RSET");
      }
    } else if (session_.action() == ClientAction::kNone && session_.timeout().count() == 0) {
      // The driver either stops (idle) or waits for a reply with timeout() as its timer.
      fail("neither idle nor awaiting a reply: the driver would wait forever");
    }
  }

  std::uint8_t flags_;
  ClientSettings settings_;
  FuzzAuthenticator authenticator_;
  ClientSession session_;
  bool tls_;
  bool finished_ = false;
  bool quit_called_ = false;
  bool quit_written_ = false;
  std::vector<std::size_t> templates_;  // per message added
  std::vector<bool> mail_sent_;         // per message: its MAIL FROM was written
  std::vector<bool> data_sent_;         // per message: some of its data was written
  std::optional<std::size_t> last_mail_;
  bool rset_since_mail_ = false;
  std::vector<std::optional<Snapshot>> decided_;
  Run r_;
};

Run run(std::uint8_t flags, std::uint8_t auth_flags, bool lmtp, std::string_view input,
        const std::function<std::size_t(std::size_t)>& chunk_size) {
  Driver d(flags, auth_flags, lmtp);
  d.control(input.empty() ? 0 : static_cast<std::uint8_t>(input[0]));
  if (!input.empty()) input.remove_prefix(1);
  std::size_t chunk = 0;
  while (!input.empty() && !d.finished()) {
    std::size_t end = input.find(kTurn);
    std::string_view turn = input.substr(0, end);
    input.remove_prefix(end == std::string_view::npos ? input.size() : end + 2);
    for (std::size_t pos = 0; pos < turn.size() && !d.finished();) {
      std::size_t n = std::min(chunk_size(chunk++), turn.size() - pos);
      d.receive(turn.substr(pos, n));
      pos += n;
    }
    if (end != std::string_view::npos && !input.empty() && !d.finished()) {
      d.control(static_cast<std::uint8_t>(input[0]));
      input.remove_prefix(1);
    }
  }
  return d.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  const std::uint8_t chunks[3] = {data[1], data[2], data[3]};
  const std::uint8_t auth_flags = data[1] & kAuthFlagMask;
  const bool lmtp = data[2] & kLmtp;
  std::string_view input(reinterpret_cast<const char*>(data) + 4, size - 4);

  Run whole = run(flags, auth_flags, lmtp, input, [&](std::size_t) { return input.size(); });
  static const bool debug = std::getenv("CLIENT_FUZZ_DEBUG") != nullptr;  // print a replay
  if (debug) std::fprintf(stderr, "%s\n== %s\n", whole.output.c_str(), whole.results.c_str());
  Run pieces =
      run(flags, auth_flags, lmtp, input, [&](std::size_t i) { return chunks[i % 3] % 32u + 1; });
  compare(whole, pieces, "whole and chunked runs differ");
  if (input.size() > 2048) return 0;
  Run bytes = run(flags, auth_flags, lmtp, input, [](std::size_t) { return std::size_t{1}; });
  compare(whole, bytes, "whole and byte-by-byte runs differ");
  compare(pieces, bytes, "chunked and byte-by-byte runs differ");
  return 0;
}
