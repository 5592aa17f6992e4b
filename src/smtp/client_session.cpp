// ClientSession — theory of operation.
//
// Everything that changes the client's state lives in this file. Each command we write pushes
// what its reply will answer onto awaiting_; ReplyParser turns server bytes into replies, and
// process() matches them to awaiting_ in order, one handler per command. Without PIPELINING a
// group is one command; with it MAIL, every RCPT and DATA go out together (RFC 2920 §3.1: DATA
// ends a group; EHLO, STARTTLS and AUTH are sent alone) and the transaction is decided once the
// group's last reply is in. Whenever nothing is awaited the server must be silent: bytes it sent
// before the command they would answer are a protocol error, never a reply to that command —
// after STARTTLS's 220 this is the response-injection defence (CVE-2011-0411 class; RFC 3207
// §4.2: nothing from before the handshake survives it).
//
// Session phases: greeting, EHLO (HELO fallback only where allowed), STARTTLS per TlsMode and a
// new EHLO, AUTH when the caller gave an authenticator, then the queued messages one transaction
// after another, then QUIT. A session failure (TLS stripped, AUTH refused, malformed reply,
// 421, timeout) fails every unfinished transaction with the same reason and ends in kClose;
// a transaction failure (sender, recipients, data refused; a local check) only ends that one.
//
// LMTP (RFC 2033, settings_.lmtp) is the same dialogue with LHLO for EHLO and, after the end
// of data, one reply per accepted recipient (§4.2): send_data() awaits one kDataEnd per accepted
// RCPT, in RCPT order, and each decides its own recipient. A session that ends between those
// replies leaves the unanswered recipients kTempFail: the server may have delivered them.
#include "smtp/client_session.hpp"

#include <algorithm>
#include <utility>

#include "smtp/address.hpp"
#include "smtp/dot_stuffer.hpp"
#include "smtp/message_text.hpp"
#include "smtp/xtext.hpp"

namespace sealpost::smtp {

namespace {

constexpr std::size_t kMaxCommandLine = 512;  // RFC 5321 §4.5.3.1.4 (and RFC 4954 §4 for AUTH)

// Detail texts the fuzz target recognises: both depend on how the server's bytes were cut.
constexpr std::string_view kEarlyData = "server sent data before the command it would answer";
constexpr std::string_view kStartTlsInjection =
    "server sent data after its STARTTLS reply (response injection)";

Outcome outcome_of(const Reply& r) {
  return r.code >= 500 ? Outcome::kPermFail : Outcome::kTempFail;
}

bool is_base64_text(std::string_view s) {
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=';
    if (!ok) return false;
  }
  return true;
}

// A path we are about to write between angle brackets: anything that does not parse back as
// exactly one path (a '>', CR or LF inside) could forge commands.
bool valid_path(std::string_view address, bool reverse, bool* non_ascii) {
  std::string wrapped = "<" + std::string(address) + ">";
  ParsedPath p =
      parse_path(wrapped, PathOptions{.allow_null = false, .allow_postmaster = !reverse});
  if (!p.ok() || !p.rest.empty()) return false;
  *non_ascii = *non_ascii || p.mailbox.non_ascii;
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace

std::string_view failure_reason_name(FailureReason reason) {
  switch (reason) {
    case FailureReason::kNone:
      return "none";
    case FailureReason::kGreeting:
      return "greeting";
    case FailureReason::kHeloRejected:
      return "helo-rejected";
    case FailureReason::kTlsRequiredNotOffered:
      return "tls-required-not-offered";
    case FailureReason::kTlsFailed:
      return "tls-failed";
    case FailureReason::kAuthNotOffered:
      return "auth-not-offered";
    case FailureReason::kAuthRequiresTls:
      return "auth-requires-tls";
    case FailureReason::kAuthFailed:
      return "auth-failed";
    case FailureReason::kProtocolError:
      return "protocol-error";
    case FailureReason::kServerClosed:
      return "server-closed";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kSenderRejected:
      return "sender-rejected";
    case FailureReason::kAllRecipientsRejected:
      return "all-recipients-rejected";
    case FailureReason::kDataRejected:
      return "data-rejected";
    case FailureReason::kSizeExceeded:
      return "size-exceeded";
    case FailureReason::kSmtpUtf8Unsupported:
      return "smtputf8-unsupported";
    case FailureReason::kUtf8HeadersUnsupported:
      return "utf8-headers-unsupported";
    case FailureReason::kEightBitUnsupported:
      return "8bit-unsupported";
    case FailureReason::kRequireTlsUnsupported:
      return "requiretls-unsupported";
    case FailureReason::kInvalidMessage:
      return "invalid-message";
  }
  return "unknown";
}

std::string_view local_refusal_code(FailureReason reason) {
  switch (reason) {
    case FailureReason::kSmtpUtf8Unsupported:
      return "5.6.7";  // non-ASCII address (RFC 6531 §3.2)
    case FailureReason::kUtf8HeadersUnsupported:
      return "5.6.9";  // UTF-8 header message (RFC 6532)
    case FailureReason::kEightBitUnsupported:
      return "5.6.3";  // conversion required but not supported
    default:
      return "5.6.0";
  }
}

ClientSession::ClientSession(ClientSettings settings, ClientAuthenticator* authenticator)
    : settings_(std::move(settings)), authenticator_(authenticator) {
  tls_active_ = settings_.tls == TlsMode::kImplicit;
  awaiting_.push_back({Await::kGreeting});
}

std::size_t ClientSession::add_message(OutgoingMessage message) {
  std::size_t index = messages_.size();
  TransactionResult result;
  for (const auto& r : message.recipients) result.recipients.push_back({r, Outcome::kPending, {}});
  results_.push_back(std::move(result));
  messages_.push_back(std::move(message));
  if (failure_.reason != FailureReason::kNone) {
    fail_pending_transactions();
  } else if (quit_sent_) {
    next_message_ = messages_.size();
    TransactionResult& r = results_[index];
    r.outcome = Outcome::kTempFail;
    r.reason = FailureReason::kProtocolError;
    r.detail = "message added after QUIT";
    for (auto& rr : r.recipients) rr.outcome = Outcome::kTempFail;
  } else {
    next_transaction();
  }
  return index;
}

bool ClientSession::idle() const {
  return ready_ && action_ == ClientAction::kNone && !txn_ && awaiting_.empty() &&
         next_message_ == messages_.size() && !quit_requested_;
}

void ClientSession::quit() {
  quit_requested_ = true;
  next_transaction();
}

std::string ClientSession::take_output() { return std::exchange(out_, {}); }
std::vector<std::string> ClientSession::take_log() { return std::exchange(log_, {}); }

void ClientSession::receive(std::string_view bytes) {
  if (action_ == ClientAction::kClose || action_ == ClientAction::kDone || bytes.empty()) return;
  if (action_ == ClientAction::kStartTls) {
    // Plaintext read after the 220 and before the handshake: the same injection.
    return fail_session(FailureReason::kProtocolError, {}, std::string(kStartTlsInjection), false);
  }
  parser_.feed(bytes);
  process();
}

void ClientSession::process() {
  while (action_ == ClientAction::kNone) {
    std::optional<Reply> r = parser_.next();
    if (!r) {
      if (parser_.error() != ReplyError::kNone)
        fail_session(FailureReason::kProtocolError, {},
                     "unreadable reply: " + std::string(reply_error_text(parser_.error())), false);
      return;
    }
    handle(*r);
  }
}

void ClientSession::handle(const Reply& r) {
  if (awaiting_.empty()) {
    // RFC 5321 §3.8: a server may announce 421 and close at any time; anything else
    // unsolicited means we and the server disagree about the dialogue.
    if (r.code == 421)
      return fail_session(FailureReason::kServerClosed, r, "server closed the session", false);
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply: " + r.summary(),
                        false);
  }
  Pending p = awaiting_.front();
  awaiting_.pop_front();
  if (p.what == Await::kQuit) {
    action_ = ClientAction::kDone;
    return;
  }
  if (r.code == 421 && p.what != Await::kGreeting)  // RFC 5321 §3.8, as the answer to anything
    return fail_session(FailureReason::kServerClosed, r, "server closed the session", false);
  switch (p.what) {
    case Await::kGreeting:
      return handle_greeting(r);
    case Await::kEhlo:
      return handle_ehlo(r, true);
    case Await::kHelo:
      return handle_ehlo(r, false);
    case Await::kStartTls:
      return handle_starttls(r);
    case Await::kAuth:
      return handle_auth(r);
    case Await::kMail:
      return handle_mail(r);
    case Await::kRcpt:
      return handle_rcpt(r, p.index);
    case Await::kData:
      return handle_data(r);
    case Await::kDataEnd:
      return handle_data_end(r, p.index);
    case Await::kBdat:
      return handle_bdat(r, p.last);
    case Await::kRset:
      if (r.code / 100 != 2)
        return fail_session(FailureReason::kProtocolError, r, "RSET refused", true);
      return next_transaction();
    case Await::kQuit:
      break;
  }
}

bool ClientSession::server_silent() {
  if (awaiting_.empty() && !parser_.idle()) {
    fail_session(FailureReason::kProtocolError, {}, std::string(kEarlyData), false);
    return false;
  }
  return true;
}

bool ClientSession::command(std::string_view line, Pending pending) {
  if (!server_silent()) return false;
  out_.append(line);
  out_ += "\r\n";
  awaiting_.push_back(pending);
  return true;
}

// --- Greeting, EHLO, STARTTLS --------------------------------------------------------------

void ClientSession::handle_greeting(const Reply& r) {
  // RFC 5321 §3.1: 554 (or 421) instead of 220 — QUIT and go.
  if (r.code != 220)
    return fail_session(FailureReason::kGreeting, r, "server refused the session", true);
  send_ehlo();
}

void ClientSession::send_ehlo() {
  command((settings_.lmtp ? "LHLO " : "EHLO ") + settings_.helo_name, {Await::kEhlo});
}

void ClientSession::handle_ehlo(const Reply& r, bool extended) {
  if (r.code == 250) {
    caps_ = extended ? parse_capabilities(r) : Capabilities{};
    return after_ehlo();
  }
  std::string_view verb = settings_.lmtp ? "LHLO" : "EHLO";
  if (r.code < 400)
    return fail_session(FailureReason::kProtocolError, r,
                        "unexpected reply to " + std::string(verb), false);
  // RFC 5321 §4.1.4: a server that does not know EHLO says 500 or 502. Falling back gives up
  // every extension, STARTTLS and AUTH included, so only where policy needs neither.
  bool tls_pending = settings_.tls == TlsMode::kRequireStartTls && !tls_active_;
  // RFC 2033 §4.1: LMTP has no HELO.
  if (extended && (r.code == 500 || r.code == 502) && settings_.allow_helo_fallback &&
      !settings_.lmtp && !tls_pending && authenticator_ == nullptr) {
    log("EHLO refused (" + r.summary() + "); falling back to HELO");
    command("HELO " + settings_.helo_name, {Await::kHelo});
    return;
  }
  fail_session(FailureReason::kHeloRejected, r,
               extended ? std::string(verb) + " refused" : "HELO refused", true);
}

void ClientSession::after_ehlo() {
  bool want_tls =
      settings_.tls == TlsMode::kRequireStartTls || settings_.tls == TlsMode::kOpportunistic;
  if (!tls_active_ && want_tls && !tls_declined_) {
    if (caps_.starttls) {
      command("STARTTLS", {Await::kStartTls});
      return;
    }
    // The downgrade attack STARTTLS cannot prevent on its own: where TLS is required its
    // absence ends the session (RFC 3207 §6, RFC 8314 §5).
    if (settings_.tls == TlsMode::kRequireStartTls)
      return fail_session(FailureReason::kTlsRequiredNotOffered, {},
                          "server does not offer STARTTLS and TLS is required", true);
    log("server does not offer STARTTLS; continuing without TLS");
  }
  if (authenticator_ != nullptr && !authenticated_) return start_auth();
  ready_ = true;
  next_transaction();
}

void ClientSession::handle_starttls(const Reply& r) {
  if (r.code == 220) {
    if (!parser_.idle())
      return fail_session(FailureReason::kProtocolError, {}, std::string(kStartTlsInjection),
                          false);
    action_ = ClientAction::kStartTls;
    return;
  }
  if (r.code < 400)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to STARTTLS", false);
  if (settings_.tls == TlsMode::kRequireStartTls)
    return fail_session(FailureReason::kTlsFailed, r, "STARTTLS refused and TLS is required", true);
  log("STARTTLS refused (" + r.summary() + "); continuing without TLS");
  tls_declined_ = true;
  after_ehlo();
}

void ClientSession::on_tls_started() {
  if (action_ != ClientAction::kStartTls) return;
  action_ = ClientAction::kNone;
  tls_active_ = true;
  // RFC 3207 §4.2: forget what the server said in plaintext; the parser was idle, so no byte
  // from before the handshake is left to be read as if it came through TLS.
  caps_ = {};
  parser_ = ReplyParser();
  log("TLS started");
  send_ehlo();
}

void ClientSession::on_tls_failed() {
  if (action_ != ClientAction::kStartTls) return;
  action_ = ClientAction::kNone;
  fail_session(FailureReason::kTlsFailed, {}, "TLS handshake failed", false);
}

// --- AUTH (RFC 4954) -----------------------------------------------------------------------

void ClientSession::start_auth() {
  if (!tls_active_ && !settings_.allow_auth_without_tls)
    return fail_session(FailureReason::kAuthRequiresTls, {},
                        "refusing to send credentials without TLS", true);
  if (caps_.auth_mechanisms.empty())
    return fail_session(FailureReason::kAuthNotOffered, {}, "server does not offer AUTH", true);
  std::optional<std::string> name = authenticator_->choose(caps_.auth_mechanisms);
  bool offered =
      name && std::any_of(caps_.auth_mechanisms.begin(), caps_.auth_mechanisms.end(),
                          [&](const std::string& m) { return is_ascii_case_equal(m, *name); });
  if (!offered)
    return fail_session(FailureReason::kAuthNotOffered, {},
                        "no acceptable AUTH mechanism among: " + join(caps_.auth_mechanisms), true);
  auth_mechanism_ = *name;
  std::string line = "AUTH " + *name;
  if (std::optional<std::string> ir = authenticator_->initial_response()) {
    if (!is_base64_text(*ir))
      return fail_session(FailureReason::kAuthFailed, {}, "authenticator produced a bad response",
                          true);
    std::string arg = ir->empty() ? "=" : *ir;  // RFC 4954 §4: "=" is an empty response
    // RFC 4954 §4: an initial response that would make the line too long waits for the
    // server's empty challenge instead.
    if (line.size() + 1 + arg.size() + 2 <= kMaxCommandLine) {
      line += " " + arg;
    } else {
      deferred_initial_response_ = *ir;
    }
  }
  command(line, {Await::kAuth});
}

void ClientSession::handle_auth(const Reply& r) {
  if (auth_cancelled_) {
    std::string why = authenticator_->failure_detail();
    return fail_session(FailureReason::kAuthFailed, r,
                        "authentication aborted" + (why.empty() ? "" : ": " + why), true);
  }
  if (r.code == 334) {
    if (r.lines.size() != 1)
      return fail_session(FailureReason::kProtocolError, r, "multi-line AUTH challenge", false);
    std::optional<std::string> response;
    if (deferred_initial_response_) {
      response = std::exchange(deferred_initial_response_, std::nullopt);
    } else {
      response = authenticator_->respond(r.lines.front());
    }
    if (!response || !is_base64_text(*response)) {
      auth_cancelled_ = true;
      command("*", {Await::kAuth});  // RFC 4954 §4: cancel; the server answers 501
      return;
    }
    command(*response, {Await::kAuth});
    return;
  }
  if (r.code == 235) {
    // RFC 5802 §5 / RFC 4954 §4: for a mutual mechanism, "success" before the server proved
    // it knows the credentials (its signature verified) is an impostor's success.
    if (!authenticator_->complete()) {
      std::string why = authenticator_->failure_detail();
      return fail_session(FailureReason::kAuthFailed, r,
                          "server reported success without completing the authentication" +
                              (why.empty() ? "" : ": " + why),
                          true);
    }
    authenticated_ = true;
    // Done with it: a session kept for reuse must not point at the caller's authenticator.
    authenticator_ = nullptr;
    log("authenticated with " + auth_mechanism_);
    return after_ehlo();
  }
  if (r.code < 400)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to AUTH", false);
  fail_session(FailureReason::kAuthFailed, r, "authentication refused", true);
}

// --- Mail transactions ---------------------------------------------------------------------

void ClientSession::next_transaction() {
  while (ready_ && action_ == ClientAction::kNone && !txn_ && awaiting_.empty()) {
    if (next_message_ < messages_.size()) {
      if (start_transaction(next_message_++)) return;
      continue;  // failed before anything was sent
    }
    if (quit_requested_ && !quit_sent_) {
      quit_sent_ = true;
      command("QUIT", {Await::kQuit});
    }
    return;
  }
}

bool ClientSession::start_transaction(std::size_t index) {
  OutgoingMessage& m = messages_[index];
  Txn t;
  t.index = index;
  t.content = std::exchange(m.content, {});
  txn_ = std::move(t);
  Txn& txn = *txn_;
  auto reject = [&](FailureReason reason, std::string detail) {
    record_result(Outcome::kPermFail, reason, {}, std::move(detail));
    return false;
  };

  bool non_ascii = false;
  if (m.recipients.empty()) return reject(FailureReason::kInvalidMessage, "no recipients");
  if (!m.reverse_path.empty() && !valid_path(m.reverse_path, true, &non_ascii))
    return reject(FailureReason::kInvalidMessage, "bad sender address <" + m.reverse_path + ">");
  for (const auto& r : m.recipients)
    if (!valid_path(r, false, &non_ascii))
      return reject(FailureReason::kInvalidMessage, "bad recipient address <" + r + ">");
  // RFC 5321 §2.3.8: CRLF only; we never guess what a bare CR or LF meant (SMTP smuggling).
  if (!is_crlf_text(txn.content))
    return reject(FailureReason::kInvalidMessage,
                  "message content has a bare CR or LF (convert with to_crlf())");
  if (!txn.content.empty() && !txn.content.ends_with("\r\n")) txn.content += "\r\n";
  bool eight_bit = has_8bit(txn.content);
  // RFC 6531 §3.2: a message that needs SMTPUTF8 — a non-ASCII address, or UTF-8 in its header
  // section — is not downgraded here; it bounces. One flagged SMTPUTF8 that needs neither goes
  // without the parameter to a server that lacks it (§3.4; Postfix does the same).
  if (!caps_.smtputf8 && non_ascii)
    return reject(FailureReason::kSmtpUtf8Unsupported,
                  "non-ASCII address and the server does not offer SMTPUTF8");
  if (!caps_.smtputf8 && m.smtputf8 && has_8bit(header_section(txn.content)))
    return reject(FailureReason::kUtf8HeadersUnsupported,
                  "UTF-8 header fields and the server does not offer SMTPUTF8");
  bool utf8 = non_ascii || (m.smtputf8 && caps_.smtputf8);
  // RFC 6152 §3: 8-bit content only to a server that offers 8BITMIME (no MIME downgrade here).
  if (eight_bit && !caps_.eight_bit_mime)
    return reject(FailureReason::kEightBitUnsupported,
                  "8-bit content and the server does not offer 8BITMIME");
  // RFC 1870 §4: do not send what the server announced it will refuse.
  if (caps_.size && caps_.size_limit != 0 && txn.content.size() > caps_.size_limit)
    return reject(FailureReason::kSizeExceeded, "message of " + std::to_string(txn.content.size()) +
                                                    " octets exceeds the server's SIZE " +
                                                    std::to_string(caps_.size_limit));
  // RFC 3461 values are re-encoded below; what cannot be said on the wire is the caller's bug.
  if (!m.recipient_dsn.empty() && m.recipient_dsn.size() != m.recipients.size())
    return reject(FailureReason::kInvalidMessage, "DSN parameters do not match the recipients");
  if (!is_printable_ascii(m.envid) || xtext_encode(m.envid).size() > kMaxEnvidLength)
    return reject(FailureReason::kInvalidMessage, "ENVID not printable ASCII or too long");
  for (const RecipientDsn& d : m.recipient_dsn) {
    bool ok = d.orcpt_type.empty() || (d.orcpt_type == "rfc822" && is_printable_ascii(d.orcpt)) ||
              (d.orcpt_type == "utf-8" && is_valid_utf8(d.orcpt));
    if (!ok) return reject(FailureReason::kInvalidMessage, "bad ORCPT <" + d.orcpt + ">");
  }
  // RFC 8689 §4.2.1: a REQUIRETLS message goes only to a server that offers REQUIRETLS, over
  // TLS; otherwise it is not sent at all and bounces with the code §7 registers (5.7.30, 550).
  if (m.require_tls && (!caps_.requiretls || !tls_active_)) {
    record_result(Outcome::kPermFail, FailureReason::kRequireTlsUnsupported,
                  make_reply(550, "5.7.30", "REQUIRETLS support required"),
                  tls_active_ ? "server does not offer REQUIRETLS" : "REQUIRETLS needs TLS");
    return false;
  }

  std::string mail = "MAIL FROM:<" + m.reverse_path + ">";
  if (caps_.size) mail += " SIZE=" + std::to_string(txn.content.size());
  if (eight_bit) mail += " BODY=8BITMIME";
  if (utf8) mail += " SMTPUTF8";
  if (m.require_tls) mail += " REQUIRETLS";
  // RFC 3461 §4: DSN parameters only to a server that offers DSN; without it they are
  // dropped here, and TransactionResult::dsn_passed_on tells the scheduler that a recipient
  // with NOTIFY=SUCCESS is owed a "relayed" report by us (§5.2.2).
  if (caps_.dsn) {
    if (m.ret != Ret::kUnspecified) mail += " RET=" + std::string(format_ret(m.ret));
    if (!m.envid.empty()) mail += " ENVID=" + xtext_encode(m.envid);
  }
  results_[index].dsn_passed_on = caps_.dsn;
  txn.pipelined = settings_.use_pipelining && caps_.pipelining;
  // LMTP: DATA only, even where CHUNKING is offered — one path for the per-recipient replies,
  // which RFC 2033 §4.2 specifies for DATA.
  txn.bdat = settings_.use_chunking && caps_.chunking && !settings_.lmtp;
  txn.rcpt.resize(m.recipients.size());
  if (!command(mail, {Await::kMail})) return true;
  if (txn.pipelined) {
    for (std::size_t i = 0; i < m.recipients.size(); ++i)
      command(rcpt_command(i), {Await::kRcpt, i});
    // BDAT waits for the RCPT replies: no message is sent that nobody will take.
    if (!txn.bdat) command("DATA", {Await::kData});
  }
  return true;
}

void ClientSession::handle_mail(const Reply& r) {
  if (r.code < 400 && r.code / 100 != 2)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to MAIL", false);
  txn_->mail = r;
  if (txn_->pipelined) return;  // the group's last reply decides
  if (!r.positive()) return after_recipients();
  command(rcpt_command(0), {Await::kRcpt, 0});
}

// "RCPT TO:<path>" and, for a server that offers DSN, NOTIFY and ORCPT (RFC 3461 §4.1, §4.2).
std::string ClientSession::rcpt_command(std::size_t index) const {
  const OutgoingMessage& m = messages_[txn_->index];
  std::string line = "RCPT TO:<" + m.recipients[index] + ">";
  if (!caps_.dsn || index >= m.recipient_dsn.size()) return line;
  const RecipientDsn& d = m.recipient_dsn[index];
  if (d.notify != 0) line += " NOTIFY=" + format_notify(d.notify);
  if (!d.orcpt_type.empty()) {
    std::string orcpt = format_orcpt(d);
    // The 7-bit form of a long UTF-8 address can outgrow the limit: ORCPT is advisory, so it
    // is left out rather than the message refused.
    if (orcpt.size() <= kMaxOrcptLength) line += " ORCPT=" + orcpt;
  }
  return line;
}

void ClientSession::handle_rcpt(const Reply& r, std::size_t index) {
  if (r.code < 400 && r.code / 100 != 2)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to RCPT", false);
  Txn& t = *txn_;
  const auto& recipients = messages_[t.index].recipients;
  t.rcpt[index] = r;
  if (r.positive()) {
    ++t.accepted;
  } else {
    log("recipient <" + recipients[index] + "> refused: " + r.summary());
  }
  bool last = index + 1 == recipients.size();
  if (!t.pipelined && !last) {
    command(rcpt_command(index + 1), {Await::kRcpt, index + 1});
  } else if (last && (!t.pipelined || t.bdat)) {
    after_recipients();
  }  // else: DATA's reply, pipelined behind, decides
}

// MAIL and every RCPT answered (and no DATA pipelined): refuse, or send the content.
void ClientSession::after_recipients() {
  Txn& t = *txn_;
  if (!t.mail->positive()) {
    return finish_transaction(
        outcome_of(*t.mail),
        t.mail->code == 552 ? FailureReason::kSizeExceeded : FailureReason::kSenderRejected,
        *t.mail, "sender refused");
  }
  if (t.accepted == 0) {
    bool temp = std::any_of(t.rcpt.begin(), t.rcpt.end(),
                            [](const auto& r) { return r && r->transient(); });
    const Reply* last = nullptr;
    for (const auto& r : t.rcpt)
      if (r) last = &*r;
    return finish_transaction(temp ? Outcome::kTempFail : Outcome::kPermFail,
                              FailureReason::kAllRecipientsRejected, last ? *last : Reply{},
                              "every recipient refused");
  }
  if (t.bdat) return send_bdat_chunks();
  command("DATA", {Await::kData});
}

void ClientSession::handle_data(const Reply& r) {
  Txn& t = *txn_;
  if (r.code == 354) {
    if (t.mail->positive() && t.accepted > 0) return send_data();
    // RFC 2920 §3.1: DATA accepted although MAIL or every RCPT was not: end an empty message
    // at once and ignore its reply.
    t.discard_end = true;
    command(".", {Await::kDataEnd});
    return;
  }
  if (r.code < 400)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to DATA", false);
  if (!t.mail->positive() || t.accepted == 0) return after_recipients();
  finish_transaction(outcome_of(r), FailureReason::kDataRejected, r, "DATA refused");
}

void ClientSession::send_data() {
  if (!server_silent()) return;
  Txn& t = *txn_;
  out_ += dot_stuff(t.content);
  if (!settings_.lmtp) {
    awaiting_.push_back({Await::kDataEnd});
    return;
  }
  // RFC 2033 §4.2: one reply for each RCPT that succeeded, in the order of the RCPTs.
  t.lmtp_final.resize(t.rcpt.size());
  for (std::size_t i = 0; i < t.rcpt.size(); ++i) {
    if (!t.rcpt[i] || !t.rcpt[i]->positive()) continue;
    awaiting_.push_back({Await::kDataEnd, i});
    ++t.lmtp_waiting;
  }
}

void ClientSession::handle_data_end(const Reply& r, std::size_t index) {
  Txn& t = *txn_;
  if (r.code / 100 == 3)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to end of data", false);
  if (t.discard_end) return after_recipients();
  if (settings_.lmtp) return handle_lmtp_reply(r, index);
  if (r.positive()) return finish_transaction(Outcome::kDelivered, FailureReason::kNone, r, "");
  finish_transaction(outcome_of(r),
                     r.code == 552 ? FailureReason::kSizeExceeded : FailureReason::kDataRejected, r,
                     "message refused");
}

// RFC 2033 §4.2: recipient `index`'s own reply after the data. The transaction is decided once
// every accepted recipient has one: delivered if any was taken.
void ClientSession::handle_lmtp_reply(const Reply& r, std::size_t index) {
  Txn& t = *txn_;
  const auto& recipients = messages_[t.index].recipients;
  t.lmtp_final[index] = r;
  if (!r.positive())
    log("recipient <" + recipients[index] + "> refused after data: " + r.summary());
  if (--t.lmtp_waiting > 0) return;
  const Reply* taken = nullptr;
  const Reply* refused = nullptr;
  bool temp = false;
  for (const auto& f : t.lmtp_final) {
    if (!f) continue;
    if (f->positive()) {
      if (!taken) taken = &*f;
    } else {
      if (!refused) refused = &*f;
      temp = temp || f->transient();
    }
  }
  if (taken) return finish_transaction(Outcome::kDelivered, FailureReason::kNone, *taken, "");
  finish_transaction(temp ? Outcome::kTempFail : Outcome::kPermFail, FailureReason::kDataRejected,
                     *refused, "message refused for every recipient");
}

// RFC 3030 §2: "BDAT size [LAST]" then exactly size octets. With PIPELINING every chunk goes at
// once; without, one chunk per reply.
void ClientSession::send_bdat_chunks() {
  Txn& t = *txn_;
  std::size_t size = t.content.size();
  std::size_t chunk = std::max<std::size_t>(settings_.bdat_chunk_size, 1);
  std::size_t total = size == 0 ? 1 : (size + chunk - 1) / chunk;
  do {
    std::size_t i = t.chunks_sent++;
    std::size_t offset = i * chunk;
    std::size_t n = std::min(chunk, size - offset);
    bool last = i + 1 == total;
    if (!command("BDAT " + std::to_string(n) + (last ? " LAST" : ""), {Await::kBdat, i, last}))
      return;
    out_.append(t.content, offset, n);
  } while (t.pipelined && t.chunks_sent < total);
}

void ClientSession::handle_bdat(const Reply& r, bool last) {
  Txn& t = *txn_;
  if (r.code / 100 == 3)
    return fail_session(FailureReason::kProtocolError, r, "unexpected reply to BDAT", false);
  if (!r.positive() && !t.data_failure) t.data_failure = r;
  if (!last && !t.data_failure) {
    if (!t.pipelined) send_bdat_chunks();
    return;
  }
  if (!last && t.pipelined) return;  // drain the replies to the chunks already sent
  if (t.data_failure) {
    Reply f = *t.data_failure;
    return finish_transaction(
        outcome_of(f), f.code == 552 ? FailureReason::kSizeExceeded : FailureReason::kDataRejected,
        f, "message refused");
  }
  finish_transaction(Outcome::kDelivered, FailureReason::kNone, r, "");
}

bool ClientSession::record_result(Outcome outcome, FailureReason reason, const Reply& reply,
                                  std::string detail) {
  Txn& t = *txn_;
  TransactionResult& result = results_[t.index];
  result.outcome = outcome;
  result.reason = reason;
  result.reply = reply;
  result.detail = std::move(detail);
  bool mail_ok = t.mail && t.mail->positive();
  result.mail_accepted = mail_ok;
  for (std::size_t i = 0; i < result.recipients.size(); ++i) {
    RecipientResult& rr = result.recipients[i];
    const std::optional<Reply>& rcpt = i < t.rcpt.size() ? t.rcpt[i] : std::nullopt;
    if (t.mail && !mail_ok) {
      rr.outcome = outcome_of(*t.mail);
      rr.reply = *t.mail;
    } else if (mail_ok && rcpt && !rcpt->positive()) {
      rr.outcome = outcome_of(*rcpt);
      rr.reply = *rcpt;
    } else if (i < t.lmtp_final.size() && t.lmtp_final[i]) {
      const Reply& f = *t.lmtp_final[i];
      rr.outcome = f.positive() ? Outcome::kDelivered : outcome_of(f);
      rr.reply = f;
    } else if (!t.lmtp_final.empty()) {
      // The data went out, this recipient's reply never came: the server may have delivered
      // it. Retrying is the at-least-once choice (as for a lost SMTP end-of-data reply).
      rr.outcome = Outcome::kTempFail;
      rr.reply = reply;
    } else {
      rr.outcome = outcome;
      rr.reply = reply;
    }
  }
  std::string summary = "message " + std::to_string(t.index) + ": ";
  if (outcome == Outcome::kDelivered) {
    summary += "accepted: " + reply.summary();
  } else {
    summary += std::string(failure_reason_name(reason)) + ": " + result.detail;
    if (reply.code != 0) summary += ": " + reply.summary();
  }
  log(std::move(summary));
  txn_.reset();
  return mail_ok && outcome != Outcome::kDelivered;
}

void ClientSession::finish_transaction(Outcome outcome, FailureReason reason, const Reply& reply,
                                       std::string detail) {
  bool open = record_result(outcome, reason, reply, std::move(detail));
  if (action_ != ClientAction::kNone) return;
  // RFC 5321 §4.1.1.5: clear the server's half-done transaction before the next MAIL (QUIT
  // discards it anyway).
  if (open && (next_message_ < messages_.size() || !quit_requested_)) {
    command("RSET", {Await::kRset});
    return;
  }
  next_transaction();
}

// --- Failures and caller events ------------------------------------------------------------

void ClientSession::fail_session(FailureReason reason, const Reply& reply, std::string detail,
                                 bool quit) {
  if (action_ == ClientAction::kClose || action_ == ClientAction::kDone) return;
  failure_ = SessionFailure{reason, reply, std::move(detail)};
  log("session failed: " + std::string(failure_reason_name(reason)) + ": " + failure_.detail +
      (reply.code != 0 ? ": " + reply.summary() : ""));
  action_ = ClientAction::kClose;
  awaiting_.clear();
  fail_pending_transactions();
  if (quit) out_ += "QUIT\r\n";  // RFC 5321 §3.1/§4.1.1.10: a polite end where one is possible
}

void ClientSession::fail_pending_transactions() {
  Outcome outcome = failure_.reply.code >= 500 ? Outcome::kPermFail : Outcome::kTempFail;
  if (txn_) record_result(outcome, failure_.reason, failure_.reply, failure_.detail);
  for (; next_message_ < messages_.size(); ++next_message_) {
    TransactionResult& r = results_[next_message_];
    r.outcome = outcome;
    r.reason = failure_.reason;
    r.reply = failure_.reply;
    r.detail = failure_.detail;
    for (auto& rr : r.recipients) {
      rr.outcome = outcome;
      rr.reply = failure_.reply;
    }
  }
}

void ClientSession::on_timeout() {
  if (action_ == ClientAction::kClose || action_ == ClientAction::kDone) return;
  if (quit_sent_) {  // the answer to QUIT is a courtesy
    action_ = ClientAction::kDone;
    return;
  }
  fail_session(FailureReason::kTimeout, {}, "timed out waiting for the server", false);
}

void ClientSession::on_closed() {
  if (action_ == ClientAction::kClose || action_ == ClientAction::kDone) return;
  if (quit_sent_) {
    action_ = ClientAction::kDone;
    return;
  }
  fail_session(FailureReason::kServerClosed, {}, "server closed the connection", false);
}

std::chrono::seconds ClientSession::timeout() const {
  using std::chrono::minutes;
  if (action_ != ClientAction::kNone || awaiting_.empty()) return std::chrono::seconds(0);
  // RFC 5321 §4.5.3.2; commands it does not name get the general 5 minutes.
  switch (awaiting_.front().what) {
    case Await::kData:
      return minutes(2);
    case Await::kDataEnd:
    case Await::kBdat:
      return minutes(10);
    default:
      return minutes(5);
  }
}

}  // namespace sealpost::smtp
