// ServerSession — theory of operation.
//
// Everything that changes the session's state lives in this file. Input is appended to in_
// and process() consumes it in one of four states: kCommand (CRLF-terminated command lines),
// kDrainLine (discarding an over-long line up to its CRLF, then one 500 reply), kData
// (DotReader until CRLF.CRLF) and kBdat (exactly N octets). Processing stops whenever an
// action is pending (StartTls, Enqueue, Close); the driver performs it, calls back, and the
// remaining pipelined input is processed then, in order (RFC 2920 §3.1). Replies accumulate
// in out_; the driver sends them after each receive(), so a pipelined group gets one write.
//
// Defences, each with its reason: only CRLF ends a line (RFC 5321 §2.3.8; SMTP smuggling);
// nothing pipelined after STARTTLS is ever acted on and all state is dropped after the
// handshake (RFC 3207 §4.2; CVE-2011-0411); every length, count and time has a limit.
#include "smtp/server_session.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

#include "smtp/command.hpp"

namespace sealpost::smtp {

namespace {

constexpr std::size_t kMaxCommandLine = 512;  // RFC 5321 §4.5.3.1.4, including CRLF
// MAIL/RCPT with ESMTP parameters and UTF-8 addresses may be longer (RFC 5321 §4.5.3.1.4
// "extensions may increase this limit"; RFC 6531 §3.3 addresses up to 256 octets of UTF-8).
constexpr std::size_t kMaxExtendedLine = 4096;
// AUTH commands and SASL responses may be up to 12288 octets (RFC 4954 §4).
constexpr std::size_t kMaxAuthLine = 12288;
constexpr std::size_t kMaxBufferedLine = kMaxAuthLine;

bool has_control_char(std::string_view line) {
  for (unsigned char c : line)
    if (c < 32 || c == 127) return true;
  return false;
}

// EHLO/HELO argument: a domain (A-labels: ASCII only) or address literal (RFC 5321 §4.1.1.1).
// We are stricter than most MTAs because the name is copied into the Received header of
// messages that may not be SMTPUTF8. '_' is tolerated: many Windows hosts send it.
bool is_valid_helo(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  if (name.front() == '[') return is_valid_address_literal(name);
  for (unsigned char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Same address for duplicate detection: the domain is case-insensitive (RFC 5321 §2.4).
bool same_address(std::string_view a, std::string_view b) {
  std::size_t at_a = a.rfind('@'), at_b = b.rfind('@');
  if (at_a != at_b) return false;
  if (at_a == std::string_view::npos) return is_ascii_case_equal(a, b);
  return a.substr(0, at_a) == b.substr(0, at_b) &&
         is_ascii_case_equal(a.substr(at_a), b.substr(at_b));
}

}  // namespace

namespace {
// Policy as data: what each verb needs before it may run.
// RCPT, DATA and BDAT need no auth flag of their own: they need MAIL, which needs AUTH.
constexpr struct {
  Verb verb;
  bool allowed_before_tls;  // on require-starttls listeners
  bool needs_helo;
  bool allowed_before_auth;  // on listeners with auth_required
} kCommandTable[] = {
    {Verb::kEhlo, true, false, true},     {Verb::kHelo, true, false, true},
    {Verb::kStartTls, true, false, true}, {Verb::kNoop, true, false, true},
    {Verb::kRset, true, false, true},     {Verb::kQuit, true, false, true},
    {Verb::kHelp, true, false, true},     {Verb::kVrfy, false, false, true},
    {Verb::kExpn, false, false, true},    {Verb::kMail, false, true, false},
    {Verb::kRcpt, false, true, true},     {Verb::kData, false, true, true},
    {Verb::kBdat, false, true, true},     {Verb::kAuth, false, true, true},
};
}  // namespace

ServerSession::ServerSession(SessionSettings settings, const SessionPolicy& policy,
                             std::string peer_address, TlsFacts tls)
    : settings_(std::move(settings)),
      policy_(policy),
      peer_address_(std::move(peer_address)),
      tls_(std::move(tls)) {}

void ServerSession::greet() { send(Reply{220, "", {settings_.hostname + " ESMTP Sealpost"}}); }

std::string ServerSession::take_output() { return std::exchange(out_, {}); }
std::vector<std::string> ServerSession::take_log() { return std::exchange(log_, {}); }

Transaction ServerSession::take_transaction() {
  Transaction t = std::move(txn_);
  txn_ = {};
  return t;
}

AuthRequest ServerSession::take_auth_request() { return std::exchange(auth_request_, {}); }

void ServerSession::receive(std::string_view bytes) {
  if (action_ != Action::kNone) return;  // driver bug; input after Close is ignored
  in_.append(bytes);
  process();
}

void ServerSession::process() {
  while (action_ == Action::kNone) {
    // A shutdown deferred by on_shutdown() takes effect once the message has ended, however
    // it ended (queued, rejected, or a BDAT chunk answered), or once an AUTH step has been
    // answered (a 334 too: on_shutdown() does not wait for a client's SASL response either).
    if (shutdown_pending_ && (state_ == State::kCommand || state_ == State::kAuthResponse)) {
      close_with(421, "4.3.2", settings_.hostname + " Service shutting down");
      break;
    }
    switch (state_) {
      case State::kCommand:
      case State::kAuthResponse:
      case State::kDrainLine:
        if (!next_line()) goto out;
        break;
      case State::kData:
        read_data();
        if (state_ == State::kData) goto out;
        break;
      case State::kBdat:
        read_bdat();
        if (state_ == State::kBdat) goto out;
        break;
    }
  }
out:
  // Compact consumed input so the buffer never grows past one partial line or chunk read.
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = scan_pos_ = 0;
    // Idle sessions should not keep a large buffer from one big pipelined burst.
    if (in_.capacity() > 4096) in_.shrink_to_fit();
  } else if (in_pos_ > 4096) {
    in_.erase(0, in_pos_);
    scan_pos_ -= std::min(scan_pos_, in_pos_);
    in_pos_ = 0;
  }
}

// Extracts and handles one command line; false if more input is needed.
bool ServerSession::next_line() {
  std::string_view view(in_);
  view.remove_prefix(in_pos_);
  if (state_ == State::kDrainLine) {
    for (std::size_t i = 0; i < view.size(); ++i) {
      if (drain_prev_cr_ && view[i] == '\n') {
        in_pos_ += i + 1;
        state_ = State::kCommand;
        // The same reply the line would have had arriving whole (handle_auth_response).
        if (drain_auth_) {
          error_reply(500, "5.5.6", "Authentication exchange line too long");
        } else {
          error_reply(500, "5.5.2", "Line too long");
        }
        return true;
      }
      drain_prev_cr_ = view[i] == '\r';
    }
    in_pos_ += view.size();
    return false;
  }
  // Resume the CRLF search where the last one stopped (one byte back for a split CRLF).
  std::size_t from = scan_pos_ > in_pos_ ? scan_pos_ - in_pos_ : 0;
  std::size_t end = view.find("\r\n", from);
  if (end == std::string_view::npos) {
    scan_pos_ = in_pos_ + (view.empty() ? 0 : view.size() - 1);
    if (view.size() > kMaxBufferedLine) {
      // Never buffer an endless line: discard until its CRLF, then reply once.
      log("command line too long; draining");
      drain_prev_cr_ = view.back() == '\r';
      drain_auth_ = state_ == State::kAuthResponse;
      in_pos_ += view.size();
      scan_pos_ = in_pos_;
      state_ = State::kDrainLine;
    }
    return false;
  }
  std::string_view line = view.substr(0, end);
  in_pos_ += end + 2;
  scan_pos_ = in_pos_;
  if (state_ == State::kAuthResponse) {
    handle_auth_response(line);
  } else {
    handle_line(line);
  }
  return true;
}

void ServerSession::handle_line(std::string_view line) {
  Command cmd = parse_command(line);
  // Length first: a line over kMaxExtendedLine gets the same single reply whether it arrived
  // whole or was drained in pieces (kDrainLine), whatever else is wrong with it.
  std::size_t limit = kMaxCommandLine;
  if (cmd.verb == Verb::kMail || cmd.verb == Verb::kRcpt) limit = kMaxExtendedLine;
  if (cmd.verb == Verb::kAuth) limit = kMaxAuthLine;
  if (line.size() + 2 > limit) {
    log("command line too long");
    error_reply(500, "5.5.2", "Line too long");
    return;
  }
  if (line.find_first_of("\r\n") != std::string_view::npos) {
    log("bare CR or LF in command line");
    error_reply(500, "5.5.2", "Bare CR or LF in command line (RFC 5321 2.3.8)");
    return;
  }
  if (has_control_char(line)) {
    log("control character in command line");
    error_reply(500, "5.5.2", "Invalid character in command line");
    return;
  }
  if (cmd.verb == Verb::kUnknown) {
    log("unknown command: " + std::string(line.substr(0, std::min<std::size_t>(line.size(), 32))));
    error_reply(500, "5.5.2", "Command not recognized");
    return;
  }
  for (const auto& spec : kCommandTable) {
    if (spec.verb != cmd.verb) continue;
    // A refused BDAT must still consume its octets, or its chunk would run as commands.
    if (cmd.verb == Verb::kBdat) break;  // handle_bdat applies these rules itself
    if (settings_.tls_required && !tls_.active && !spec.allowed_before_tls) {
      error_reply(530, "5.7.0", "Must issue a STARTTLS command first");
      return;
    }
    if (spec.needs_helo && helo_.empty()) {
      error_reply(503, "5.5.1", "Send HELO/EHLO first");
      return;
    }
    if (settings_.auth_required && auth_user_.empty() && !spec.allowed_before_auth) {
      error_reply(530, "5.7.0", "Authentication required");
      return;
    }
    break;
  }
  std::string_view arg = cmd.argument;
  switch (cmd.verb) {
    case Verb::kEhlo:
      return handle_ehlo(arg, true);
    case Verb::kHelo:
      return handle_ehlo(arg, false);
    case Verb::kMail:
      return handle_mail(arg);
    case Verb::kRcpt:
      return handle_rcpt(arg);
    case Verb::kData:
      if (cmd.has_argument) return error_reply(501, "5.5.4", "Syntax: DATA");
      return handle_data(arg);
    case Verb::kBdat:
      return handle_bdat(arg);
    case Verb::kStartTls:
      return handle_starttls(arg);
    case Verb::kRset:
      if (cmd.has_argument) return error_reply(501, "5.5.4", "Syntax: RSET");
      reset_transaction();
      return reply(250, "2.0.0", "Ok");
    case Verb::kNoop:
      return reply(250, "2.0.0", "Ok");
    case Verb::kQuit:
      return close_with(221, "2.0.0", "Bye");
    case Verb::kVrfy:
      if (arg.empty()) return error_reply(501, "5.5.4", "Syntax: VRFY <address>");
      // RFC 5321 §3.5.3: 252 when we will not verify (address harvesting defence).
      return reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
    case Verb::kExpn:
      return error_reply(502, "5.5.1", "EXPN not implemented");
    case Verb::kHelp:
      return reply(214, "2.0.0", "See https://www.rfc-editor.org/rfc/rfc5321 and sealpostd(8)");
    case Verb::kAuth:
      return handle_auth(arg);
    case Verb::kUnknown:
      break;
  }
}

void ServerSession::handle_ehlo(std::string_view arg, bool extended) {
  if (!is_valid_helo(arg)) {
    return error_reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
  }
  reset_transaction();  // RFC 5321 §4.1.4: EHLO/HELO implies RSET
  helo_ = std::string(arg);
  esmtp_ = extended;
  if (!extended) return send(Reply{250, "", {settings_.hostname}});
  Reply r{250, "", {settings_.hostname}};
  r.lines.push_back("PIPELINING");
  r.lines.push_back("SIZE " + std::to_string(settings_.max_message_size));
  r.lines.push_back("8BITMIME");
  r.lines.push_back("ENHANCEDSTATUSCODES");
  r.lines.push_back("SMTPUTF8");
  r.lines.push_back("CHUNKING");
  r.lines.push_back("DSN");  // RFC 3461
  // RFC 8689 §2: REQUIRETLS may only be used on a session that employs TLS, so it is offered
  // only there (after STARTTLS, or on an implicit-TLS listener).
  if (tls_.active) r.lines.push_back("REQUIRETLS");
  // RFC 3207 §4.2: never offered inside TLS.
  if (settings_.starttls_offered && !tls_.active) r.lines.push_back("STARTTLS");
  // RFC 8314 §3 / RFC 4954 §4: credentials only ever cross inside TLS, so AUTH is not even
  // advertised before it (a client that never sees it cannot be tricked into plaintext AUTH).
  if (tls_.active && !settings_.auth_mechanisms.empty()) {
    std::string line = "AUTH";
    for (const auto& m : settings_.auth_mechanisms) line += " " + m;
    r.lines.push_back(std::move(line));
  }
  send(r);
}

void ServerSession::handle_mail(std::string_view arg) {
  if (in_transaction_) return error_reply(503, "5.5.1", "Nested MAIL command");
  std::string_view rest;
  if (!strip_keyword(arg, "FROM:", &rest))
    return error_reply(501, "5.5.4", "Syntax: MAIL FROM:<address>");
  ParsedPath path = parse_path(rest, PathOptions{.allow_null = true});
  if (path.error == PathError::kTooLong)
    return error_reply(501, "5.1.7", "Sender address too long");
  if (!path.ok()) return error_reply(501, "5.1.7", "Bad sender address syntax");
  if (!path.rest.empty() && path.rest.front() != ' ')
    return error_reply(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]");
  std::vector<EsmtpParam> params;
  std::string duplicate;
  if (!parse_esmtp_params(path.rest, &params, &duplicate)) {
    if (!duplicate.empty()) {
      reject_param("MAIL", "Duplicate MAIL parameter " + duplicate);
      return;
    }
    return error_reply(501, "5.5.4", "Bad MAIL parameter syntax");
  }
  if (!esmtp_ && !params.empty())
    return error_reply(555, "5.5.4", "MAIL parameters are not allowed after HELO");
  Transaction t;
  for (const auto& p : params)
    if (!take_mail_param(p, t)) return;
  if (path.mailbox.non_ascii && !t.smtputf8)
    return error_reply(553, "5.6.7", "Non-ASCII sender address requires SMTPUTF8");
  Reply verdict = policy_.check_sender(path.mailbox, path.null_path, auth_user_);
  if (!verdict.positive()) {
    log("sender rejected: <" + path.mailbox.text() +
        "> user=" + (auth_user_.empty() ? "-" : auth_user_) + ": " + verdict.summary());
    if (!verdict.permanent()) return send(verdict);
    return error_reply(verdict.code, verdict.enhanced,
                       verdict.lines.empty() ? "" : verdict.lines.back());
  }
  t.reverse_path = path.null_path ? std::string() : path.mailbox.text();
  txn_ = std::move(t);
  in_transaction_ = true;
  bdat_aborted_ = false;
  reply(250, "2.1.0", "Ok");
}

// One MAIL parameter into the transaction; false once an error reply has been sent.
bool ServerSession::take_mail_param(const EsmtpParam& p, Transaction& t) {
  if (p.keyword == "SIZE") {  // RFC 1870 §6
    std::uint64_t size = 0;
    auto [ptr, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), size);
    if (!p.has_value || ec != std::errc() || ptr != p.value.data() + p.value.size()) {
      error_reply(501, "5.5.4", "Bad SIZE parameter");
      return false;
    }
    if (size > settings_.max_message_size) {
      error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
      return false;
    }
  } else if (p.keyword == "BODY") {  // RFC 6152
    if (is_ascii_case_equal(p.value, "8BITMIME")) {
      t.body_8bit = true;
    } else if (!is_ascii_case_equal(p.value, "7BIT")) {
      error_reply(555, "5.5.4", "Unsupported BODY type");
      return false;
    }
  } else if (p.keyword == "SMTPUTF8") {  // RFC 6531 §3.4
    if (p.has_value) {
      error_reply(501, "5.5.4", "SMTPUTF8 takes no value");
      return false;
    }
    t.smtputf8 = true;
  } else if (p.keyword == "AUTH" && tls_.active && !settings_.auth_mechanisms.empty()) {
    // RFC 4954 §5: only where AUTH is advertised (inside TLS); accepted and not trusted, we
    // never relay an identity we did not verify.
    if (!p.has_value) {
      error_reply(501, "5.5.4", "AUTH parameter needs a value");
      return false;
    }
  } else if (p.keyword == "RET") {  // RFC 3461 §4.3
    const char* why = p.has_value ? parse_ret(p.value, &t.ret) : "RET parameter needs a value";
    if (why != nullptr) return reject_param("MAIL", why);
  } else if (p.keyword == "ENVID") {  // RFC 3461 §4.4
    const char* why =
        p.has_value ? parse_envid(p.value, &t.envid) : "ENVID parameter needs a value";
    if (why != nullptr) return reject_param("MAIL", why);
  } else if (p.keyword == "REQUIRETLS") {
    if (p.has_value) return reject_param("MAIL", "REQUIRETLS takes no value");
    if (!tls_.active) {
      // RFC 8689 §2: REQUIRETLS "MUST only be specified" on a session that "itself MUST
      // employ TLS transmission"; we never offer it outside TLS. The one code the RFC
      // registers (§7: 5.7.30 "REQUIRETLS support required", basic code 550) says exactly
      // this: the session the message would travel over does not provide REQUIRETLS.
      log("MAIL rejected: REQUIRETLS outside TLS");
      error_reply(550, "5.7.30", "REQUIRETLS support required (use TLS)");
      return false;
    }
    t.requiretls = true;
  } else {
    error_reply(555, "5.5.4", "Unsupported MAIL parameter " + p.keyword);
    return false;
  }
  return true;
}

// RCPT parameters (RFC 3461 §4.1, §4.2); false once an error reply has been sent.
bool ServerSession::take_rcpt_params(std::string_view text, RecipientDsn& dsn) {
  std::vector<EsmtpParam> params;
  std::string duplicate;
  if (!parse_esmtp_params(text, &params, &duplicate)) {
    if (!duplicate.empty()) return reject_param("RCPT", "Duplicate RCPT parameter " + duplicate);
    error_reply(501, "5.5.4", "Bad RCPT parameter syntax");
    return false;
  }
  if (!esmtp_ && !params.empty()) {
    error_reply(555, "5.5.4", "RCPT parameters are not allowed after HELO");
    return false;
  }
  for (const auto& p : params) {
    const char* why = nullptr;
    if (p.keyword == "NOTIFY") {
      why = p.has_value ? parse_notify(p.value, &dsn.notify) : "NOTIFY parameter needs a value";
    } else if (p.keyword == "ORCPT") {
      why = p.has_value ? parse_orcpt(p.value, &dsn) : "ORCPT parameter needs a value";
    } else {
      error_reply(555, "5.5.4", "Unsupported RCPT parameter " + p.keyword);
      return false;
    }
    if (why != nullptr) return reject_param("RCPT", why);
  }
  return true;
}

// A malformed or repeated parameter: one log line and 501 5.5.4. Returns false, for the
// take_*_param callers.
bool ServerSession::reject_param(std::string_view verb, std::string_view why) {
  log(std::string(verb) + " parameter rejected: " + std::string(why));
  error_reply(501, "5.5.4", why);
  return false;
}

void ServerSession::handle_rcpt(std::string_view arg) {
  if (!in_transaction_) return error_reply(503, "5.5.1", "Need MAIL command");
  std::string_view rest;
  if (!strip_keyword(arg, "TO:", &rest))
    return error_reply(501, "5.5.4", "Syntax: RCPT TO:<address>");
  ParsedPath path = parse_path(rest, PathOptions{.allow_postmaster = true});
  if (path.error == PathError::kTooLong)
    return error_reply(501, "5.1.3", "Recipient address too long");
  if (!path.ok()) return error_reply(501, "5.1.3", "Bad recipient address syntax");
  if (!path.rest.empty() && path.rest.front() != ' ')
    return error_reply(501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]");
  RecipientDsn dsn;
  if (!take_rcpt_params(path.rest, dsn)) return;
  if (path.mailbox.non_ascii && !txn_.smtputf8)
    return error_reply(553, "5.6.7", "Non-ASCII recipient address requires SMTPUTF8");
  if (txn_.recipients.size() >= settings_.max_recipients)
    return reply(452, "4.5.3", "Too many recipients");  // RFC 5321 §4.5.3.1.10
  Reply verdict = policy_.check_recipient(path.mailbox, auth_user_);
  if (!verdict.positive()) {
    log("recipient rejected: <" + path.mailbox.text() + ">: " + verdict.summary());
    return verdict.permanent() ? error_reply(verdict.code, verdict.enhanced,
                                             verdict.lines.empty() ? "" : verdict.lines.back())
                               : send(verdict);
  }
  std::string address = path.mailbox.text();
  bool duplicate = false;
  for (const auto& r : txn_.recipients) duplicate = duplicate || same_address(r, address);
  if (!duplicate) {
    // recipient_dsn stays empty until some recipient has parameters; then it is filled up so
    // that it runs parallel to recipients.
    if (!dsn.empty() || !txn_.recipient_dsn.empty()) {
      txn_.recipient_dsn.resize(txn_.recipients.size());
      txn_.recipient_dsn.push_back(std::move(dsn));
    }
    txn_.recipients.push_back(std::move(address));
  }
  reply(250, "2.1.5", "Ok");
}

void ServerSession::handle_data(std::string_view arg) {
  if (!arg.empty()) return error_reply(501, "5.5.4", "Syntax: DATA");
  if (!in_transaction_) return error_reply(503, "5.5.1", "Need MAIL command");
  if (bdat_active_) return error_reply(503, "5.5.1", "DATA not allowed after BDAT");
  if (txn_.recipients.empty()) return error_reply(554, "5.5.1", "No valid recipients");
  txn_.body.clear();
  checker_ = std::make_unique<ContentChecker>(&txn_.body, settings_.max_message_size);
  dot_reader_ = std::make_unique<DotReader>(checker_.get());
  state_ = State::kData;
  send(Reply{354, "", {"End data with <CR><LF>.<CR><LF>"}});
}

void ServerSession::read_data() {
  std::string_view view(in_);
  view.remove_prefix(in_pos_);
  in_pos_ += dot_reader_->feed(view);
  if (!dot_reader_->done()) return;
  state_ = State::kCommand;
  dot_reader_.reset();
  finish_content(*checker_);
}

// Ends DATA or BDAT LAST: either an Enqueue action or one error reply for the whole message.
void ServerSession::finish_content(ContentChecker& checker) {
  ContentError error = checker.error();
  std::size_t size = checker.size();
  checker_.reset();
  switch (error) {
    case ContentError::kNone:
      txn_.helo = helo_;
      txn_.esmtp = esmtp_;
      txn_.peer_address = peer_address_;
      txn_.auth_user = auth_user_;
      txn_.tls = tls_;
      action_ = Action::kEnqueue;
      return;
    case ContentError::kBareCrOrLf:
      log("message rejected: bare CR or LF in content (smuggling defence)");
      reset_transaction();
      return error_reply(550, "5.5.2", "Message contains a bare CR or LF (RFC 5321 2.3.8)");
    case ContentError::kTooBig:
      log("message rejected: " + std::to_string(size) + " octets exceeds the size limit");
      reset_transaction();
      return error_reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    case ContentError::kLineTooLong:
      log("message rejected: line longer than 998 octets");
      reset_transaction();
      return error_reply(554, "5.6.0", "Message has a line longer than 998 octets");
  }
}

void ServerSession::handle_bdat(std::string_view arg) {
  // RFC 3030 §2: BDAT SP chunk-size [SP end-marker]. If the size is unreadable we cannot
  // know where the chunk ends, so reading on would run message bytes as commands: close.
  std::size_t space = arg.find(' ');
  std::string_view size_text = arg.substr(0, space);
  std::string_view marker = space == std::string_view::npos ? "" : arg.substr(space + 1);
  std::uint64_t size = 0;
  auto [ptr, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
  bool size_ok = !size_text.empty() && size_text.size() <= 19 && ec == std::errc() &&
                 ptr == size_text.data() + size_text.size();
  bool marker_ok = space == std::string_view::npos || is_ascii_case_equal(marker, "LAST");
  if (!size_ok || !marker_ok) {
    log("unparseable BDAT command; closing");
    return close_with(501, "5.5.4", "Syntax: BDAT <size> [LAST]; closing connection");
  }
  bdat_remaining_ = size;
  bdat_last_ = space != std::string_view::npos;
  bdat_error_.reset();
  if (settings_.tls_required && !tls_.active) {
    bdat_error_ = make_reply(530, "5.7.0", "Must issue a STARTTLS command first");
  } else if (helo_.empty()) {
    bdat_error_ = make_reply(503, "5.5.1", "Send HELO/EHLO first");
  } else if (bdat_aborted_) {
    bdat_error_ = make_reply(503, "5.5.1", "Previous BDAT failed; send RSET");
  } else if (!in_transaction_) {
    bdat_error_ = make_reply(503, "5.5.1", "Need MAIL command");
  } else if (txn_.recipients.empty()) {
    bdat_error_ = make_reply(554, "5.5.1", "No valid recipients");
  } else if (!bdat_active_) {
    bdat_active_ = true;
    txn_.body.clear();
    checker_ = std::make_unique<ContentChecker>(&txn_.body, settings_.max_message_size);
  }
  state_ = State::kBdat;
}

void ServerSession::read_bdat() {
  std::size_t available = in_.size() - in_pos_;
  std::size_t n = std::min<std::uint64_t>(available, bdat_remaining_);
  if (!bdat_error_ && checker_) checker_->append(std::string_view(in_).substr(in_pos_, n));
  in_pos_ += n;
  bdat_remaining_ -= n;
  if (bdat_remaining_ == 0) finish_bdat_chunk();
}

void ServerSession::finish_bdat_chunk() {
  state_ = State::kCommand;
  if (bdat_error_) {
    Reply r = *bdat_error_;
    bdat_error_.reset();
    return error_reply(r.code, r.enhanced, r.lines.back());
  }
  if (checker_ && checker_->error() == ContentError::kNone && !bdat_last_) {
    return reply(250, "2.0.0", "Chunk accepted");
  }
  if (bdat_last_) checker_->finish();
  bool failed = checker_->error() != ContentError::kNone;
  finish_content(*checker_);
  // RFC 3030 §2: after a failed chunk, further pipelined chunks are read and discarded.
  if (failed) bdat_aborted_ = true;
}

void ServerSession::handle_starttls(std::string_view arg) {
  if (!settings_.starttls_offered && !tls_.active)
    return error_reply(502, "5.5.1", "STARTTLS not available");
  if (tls_.active) return error_reply(503, "5.5.1", "TLS already active");
  if (!arg.empty()) return error_reply(501, "5.5.4", "Syntax: STARTTLS");
  if (in_transaction_) return error_reply(503, "5.5.1", "STARTTLS not allowed in a transaction");
  if (buffered() > 0) {
    // RFC 3207 §4.2 / CVE-2011-0411: bytes sent before the handshake must never be read as
    // commands inside TLS. A client that pipelines after STARTTLS is broken or an attack.
    log("data pipelined after STARTTLS; closing (command injection defence)");
    in_pos_ = in_.size();
    return close_with(554, "5.5.1", "Pipelining after STARTTLS is not allowed; closing");
  }
  reply(220, "2.0.0", "Ready to start TLS");
  action_ = Action::kStartTls;
}

void ServerSession::on_tls_started(TlsFacts tls) {
  // RFC 3207 §4.2: discard all knowledge obtained from the client before TLS.
  in_.clear();
  in_pos_ = scan_pos_ = 0;
  reset_transaction();
  helo_.clear();
  esmtp_ = false;
  auth_user_.clear();
  tls_ = std::move(tls);
  tls_.active = true;
  action_ = Action::kNone;
  process();  // a shutdown requested during the handshake takes effect now
}

void ServerSession::handle_auth(std::string_view arg) {
  if (settings_.auth_mechanisms.empty())
    return error_reply(503, "5.5.1", "Authentication not enabled");
  if (!tls_.active) {
    // RFC 4954 §6 / RFC 8314: never accept credentials in the clear.
    return error_reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
  }
  // AUTH is an EHLO extension (RFC 4954 §3): a HELO client was never offered it, and its
  // Received header could not record the authentication (no "A" after "SMTP", RFC 3848).
  if (!esmtp_) return error_reply(503, "5.5.1", "Send EHLO first");
  if (!auth_user_.empty()) return error_reply(503, "5.5.1", "Already authenticated");
  if (in_transaction_) return error_reply(503, "5.5.1", "AUTH not allowed in a mail transaction");
  std::size_t space = arg.find(' ');
  std::string_view name = arg.substr(0, space);
  std::string mechanism;
  for (const auto& m : settings_.auth_mechanisms)
    if (is_ascii_case_equal(m, name)) mechanism = m;
  if (name.empty()) return error_reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  if (mechanism.empty()) return error_reply(504, "5.5.4", "Unrecognized authentication type");
  AuthRequest request{mechanism, true, std::nullopt};
  if (space != std::string_view::npos) {
    std::string_view ir = arg.substr(space + 1);
    if (ir.empty() || ir.find(' ') != std::string_view::npos)
      return error_reply(501, "5.5.2", "Cannot decode initial response");
    request.response = ir == "=" ? std::string() : std::string(ir);  // RFC 4954 §4
  }
  mechanism_in_progress_ = mechanism;
  auth_request_ = std::move(request);
  action_ = Action::kAuthenticate;
}

void ServerSession::handle_auth_response(std::string_view line) {
  state_ = State::kCommand;
  if (line == "*") {  // RFC 4954 §4: the client cancels the exchange
    log("authentication cancelled by client");
    return error_reply(501, "5.0.0", "Authentication cancelled");
  }
  if (line.size() + 2 > kMaxAuthLine)
    return error_reply(500, "5.5.6", "Authentication exchange line too long");
  auth_request_.initial = false;
  auth_request_.response = std::string(line);
  action_ = Action::kAuthenticate;
}

void ServerSession::on_auth_result(const AuthResult& result) {
  action_ = Action::kNone;
  using Kind = AuthResult::Kind;
  switch (result.kind) {
    case Kind::kChallenge:
      send(Reply{334, "", {result.challenge}});
      state_ = State::kAuthResponse;
      auth_request_.mechanism = mechanism_in_progress_;
      break;
    case Kind::kSuccess:
      auth_user_ = result.user;
      log("authenticated as " + auth_user_);
      reply(235, "2.7.0", "Authentication successful");
      break;
    case Kind::kBadCredentials:
      error_reply(535, "5.7.8", "Authentication credentials invalid");
      break;
    case Kind::kMalformed:
      error_reply(501, "5.5.2", "Cannot decode response");
      break;
    case Kind::kTemporaryFailure:
      reply(454, "4.7.0", "Temporary authentication failure");
      break;
    case Kind::kTooWeak:
      error_reply(534, "5.7.9", "Authentication mechanism is too weak");
      break;
    case Kind::kEncryptionNeeded:
      error_reply(538, "5.7.11", "Encryption required for requested authentication mechanism");
      break;
  }
  process();
}

void ServerSession::on_tls_failed() { action_ = Action::kClose; }

void ServerSession::on_enqueued(std::string_view queue_id) {
  action_ = Action::kNone;
  reset_transaction();
  reply(250, "2.0.0", "Ok: queued as " + std::string(queue_id));
  process();
}

void ServerSession::on_enqueue_failed(const Reply& r) {
  action_ = Action::kNone;
  reset_transaction();
  send(r);
  process();
}

void ServerSession::on_idle_timeout() {
  log("idle timeout");
  close_with(421, "4.4.2", settings_.hostname + " Error: timeout exceeded");
}

void ServerSession::on_session_expired() {
  log("session time limit reached");
  close_with(421, "4.4.2", settings_.hostname + " Error: session time limit exceeded");
}

void ServerSession::on_shutdown() {
  if (action_ == Action::kClose) return;
  // A message being received or committed, a handshake or an AUTH step is finished first;
  // then the 421.
  if (action_ != Action::kNone || state_ == State::kData || state_ == State::kBdat) {
    shutdown_pending_ = true;
    return;
  }
  close_with(421, "4.3.2", settings_.hostname + " Service shutting down");
}

void ServerSession::reply(int code, std::string_view enhanced, std::string_view text) {
  send(make_reply(code, enhanced, text));
}

void ServerSession::send(const Reply& r) { out_ += r.format(); }

void ServerSession::error_reply(int code, std::string_view enhanced, std::string_view text) {
  reply(code, enhanced, text);
  // Every 5xx counts against the client (dictionary attacks, command floods).
  if (code >= 500 && ++bad_commands_ > settings_.max_bad_commands) {
    log("too many errors; closing");
    close_with(421, "4.7.0", settings_.hostname + " Error: too many errors");
  }
}

void ServerSession::close_with(int code, std::string_view enhanced, std::string_view text) {
  reply(code, enhanced, text);
  action_ = Action::kClose;
}

void ServerSession::reset_transaction() {
  in_transaction_ = false;
  txn_ = {};
  checker_.reset();
  dot_reader_.reset();
  bdat_active_ = false;
  bdat_aborted_ = false;
  bdat_error_.reset();
}

}  // namespace sealpost::smtp
