// attempt(): the dialogue over net::converse, the loop tls-check's probe runs too. The TLS mode
// handed to the session already refuses plaintext when the policy requires TLS (kRequireStartTls);
// after the handshake tls::evaluate() has the last word, before on_tls_started() lets the session
// go on to MAIL FROM (RFC 7672 §1.3: no downgrade). A kept connection passed all of that when
// it was made, under a requirement equal to this one (the cache key); it only has to be alive.
#include "delivery/remote/attempt.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include "delivery/remote/mx_plan.hpp"
#include "net/client_dialogue.hpp"

namespace sealpost::delivery::remote {

namespace {

using net::Clock;
using smtp::FailureReason;

smtp::TlsMode tls_mode(const tls::Requirement& req, const AttemptSettings& s) {
  if (s.implicit_tls) return smtp::TlsMode::kImplicit;
  if (s.cleartext || !req.attempt_tls) return smtp::TlsMode::kNone;
  return req.tls_required ? smtp::TlsMode::kRequireStartTls : smtp::TlsMode::kOpportunistic;
}

// Did the server (or the session's local checks) decide this message? Session-level failures
// and a 4xx to MAIL FROM did not: the next address or MX may do better.
bool judged(const smtp::TransactionResult& t) {
  switch (t.reason) {
    case FailureReason::kNone:
      return t.outcome != smtp::Outcome::kPending;
    case FailureReason::kSenderRejected:
      return t.outcome == smtp::Outcome::kPermFail;
    case FailureReason::kAllRecipientsRejected:
    case FailureReason::kDataRejected:
    case FailureReason::kSizeExceeded:
    case FailureReason::kSmtpUtf8Unsupported:
    case FailureReason::kUtf8HeadersUnsupported:
    case FailureReason::kEightBitUnsupported:
    case FailureReason::kRequireTlsUnsupported:
    case FailureReason::kInvalidMessage:
      return true;
    default:
      return false;
  }
}

// The transaction's share of the result: an outcome per recipient once it was judged,
// otherwise why not (result.reason already says how TLS went).
void read_transaction(const smtp::ClientSession& session, std::size_t index, AttemptResult& r) {
  const smtp::SessionFailure& f = session.failure();
  const smtp::TransactionResult* t =
      index < session.results().size() ? &session.results()[index] : nullptr;
  if (t && judged(*t)) {
    std::vector<Outcome> out;
    for (const smtp::RecipientResult& rr : t->recipients) out.push_back(recipient_outcome(rr, *t));
    r.recipients = std::move(out);
    return;
  }
  // A 4xx to MAIL FROM ends the transaction, not the session: its reply says why.
  if (f.reason == FailureReason::kNone && t && t->reply.code != 0) {
    r.failure = session_outcome({t->reason, t->reply, t->detail});
    return;
  }
  r.failure = session_outcome(f);
  if (f.reason != FailureReason::kNone) r.reason += "; " + outcome_text(r.failure);
}

ConnectionKey kept_key(const AttemptTarget& t, const tls::Requirement& req,
                       const AttemptSettings& s) {
  ConnectionKey key = connection_key(t.host, t.address, t.port, req);
  key.implicit_tls = s.implicit_tls;
  key.authenticated = s.authenticator != nullptr;
  key.auth_identity = key.authenticated ? s.auth_identity : "";
  return key;
}

// The message over a kept connection. nullopt: the connection had died while idle (EOF, a
// reset, a 421 or silence before MAIL FROM was accepted), so nothing of the message reached
// the server and a fresh connection takes over as if this one had never been kept.
std::optional<AttemptResult> send_kept(KeptConnection& kept, const smtp::OutgoingMessage& message,
                                       const AttemptSettings& settings) {
  if (!kept.conn->idle_and_silent()) return std::nullopt;
  smtp::ClientSession& session = *kept.session;
  std::size_t index = session.add_message(message);
  // A kept connection that went silent (a NAT or firewall dropped its state) must not hold the
  // message for the whole attempt deadline: it gets connect_timeout to say anything, like a new
  // connection to connect, and the full deadline once the server is heard from.
  const Clock::time_point full = Clock::now() + settings.deadline;
  Clock::time_point deadline = std::min(full, Clock::now() + settings.connect_timeout);
  // The session is past STARTTLS: it cannot ask for a handshake again.
  net::converse(
      session, *kept.conn, deadline, [] { return false; },
      [&](std::string_view) { deadline = full; });
  const smtp::SessionFailure& f = session.failure();
  bool dead = f.reason == FailureReason::kServerClosed || f.reason == FailureReason::kTimeout;
  if (dead && !session.results()[index].mail_accepted) return std::nullopt;
  ++kept.transactions;
  AttemptResult r;
  r.reused = true;
  r.tls_version = kept.tls_version;
  r.cipher = kept.cipher;
  r.verified = kept.verified;
  r.reason = kept.reason;
  r.session_failure = f;
  if (session.authenticated()) r.auth_mechanism = session.auth_mechanism();
  read_transaction(session, index, r);
  return r;
}

class Attempt {
 public:
  Attempt(const AttemptTarget& t, const tls::Requirement& req, const AttemptSettings& s)
      : target_(t), decided_(req), req_(req), settings_(s), deadline_(Clock::now() + s.deadline) {}

  AttemptResult run(const smtp::OutgoingMessage& message) {
    require_tls_ = message.require_tls;
    // A black-holed address must not eat the whole attempt deadline (the next one waits).
    auto connect_by = std::min(deadline_, Clock::now() + settings_.connect_timeout);
    auto connected = conn_->connect(target_.host, target_.port, {target_.address}, connect_by);
    if (!connected) {
      result_.failure = defer("4.4.1", connected.error().message);
      result_.reason = connected.error().message;
      return std::move(result_);
    }
    // Implicit TLS: the handshake and the policy's verdict come before the greeting is read.
    if (settings_.implicit_tls && !start_tls()) {
      conn_->close();
      refuse_tls();
      return std::move(result_);
    }
    connected_at_ = Clock::now();
    smtp::ClientSettings cs;
    cs.helo_name = settings_.helo_name;
    cs.tls = tls_mode(req_, settings_);
    // EHLO is needed for STARTTLS and AUTH; HELO only for a plain, anonymous session.
    cs.allow_helo_fallback = cs.tls == smtp::TlsMode::kNone && !settings_.authenticator;
    session_ = std::make_unique<smtp::ClientSession>(cs, settings_.authenticator);
    std::size_t index = session_->add_message(message);
    // Without a cache, QUIT follows the transaction; with one, the session stops idle.
    if (!may_keep()) session_->quit();
    // A false start_tls(): nothing more goes over this socket.
    net::converse(*session_, *conn_, deadline_, [this] { return start_tls(); });
    finish(*session_, index);
    release();
    return std::move(result_);
  }

 private:
  bool may_keep() const {
    return settings_.cache && settings_.cache->enabled() && !settings_.cleartext;
  }

  // Keeps a healthy connection for the next message, or ends it. Not one whose requirement was
  // narrowed (no usable TLSA): it is weaker than what the same key asks for.
  void release() {
    if (may_keep() && session_->idle() && !narrowed_) {
      auto kept = std::make_unique<KeptConnection>();
      kept->conn = std::move(conn_);
      kept->session = std::move(session_);
      kept->tls_version = result_.tls_version;
      kept->cipher = result_.cipher;
      kept->verified = result_.verified;
      kept->reason = result_.reason;
      kept->created = connected_at_;
      kept->transactions = 1;
      settings_.cache->keep(kept_key(target_, decided_, settings_), std::move(kept));
      return;
    }
    if (session_->idle()) {
      session_->quit();
      net::converse(*session_, *conn_, deadline_, [] { return false; });
    }
    conn_->close();
  }

  // Handshake and policy verdict; false: the connection must not carry mail.
  bool start_tls() {
    starttls_offered_ = true;  // the session sends STARTTLS only when the EHLO reply offered it
    tls_attempted_ = true;
    net::SslPtr ssl(SSL_new(settings_.ssl_ctx));
    if (!ssl) {
      handshake_error_ = "SSL_new failed";
      return false;
    }
    // RFC 7672 §3.2.1: SNI is the MX host name whenever TLSA records are in play.
    tls::PeerReference peer{req_.reference_name, target_.host, req_.tlsa};
    auto setup = tls::configure_peer(ssl.get(), peer);
    if (!setup) {
      handshake_error_ = setup.error();
      return false;
    }
    // RFC 7672 §2.2: no usable record is "TLS required, unauthenticated", not a mismatch.
    if (req_.verification == tls::Verification::kDane && setup->tlsa_usable == 0) {
      req_ = tls::without_usable_tlsa(std::move(req_));
      narrowed_ = true;
      // That leaves the peer unauthenticated, which a REQUIRETLS message must not go to (RFC
      // 8689 §4.2.1), though the records looked usable when the policy was decided.
      if (require_tls_) {
        unauthenticated_requiretls_ = true;
        handshake_error_ = "no usable TLSA record for a REQUIRETLS message";
        return false;
      }
    }
    auto done = conn_->handshake(std::move(ssl), deadline_);
    if (!done) {
      handshake_error_ = done.error().message;
      return false;
    }
    peer_ = tls::examine_peer(conn_->ssl());
    result_.tls_version = peer_->version;
    result_.cipher = peer_->cipher;
    // A chain that verifies names nobody unless a name was checked against it: under `may` or
    // `encrypt` no reference identity is set, and the peer is unauthenticated (RFC 7435 §1.3).
    const bool identity_checked = !req_.reference_name.empty() || peer_->method != "pkix";
    result_.verified = peer_->verified && identity_checked ? peer_->method : "none";
    verdict_ = tls::evaluate(req_, observation());
    if (verdict_->kind != tls::Verdict::Kind::kProceed) return false;
    if (settings_.on_tls) settings_.on_tls(conn_->ssl());
    return true;
  }

  // An implicit TLS connection that failed or did not satisfy the policy: nothing was sent.
  void refuse_tls() {
    if (unauthenticated_requiretls_) return refuse_requiretls();
    if (!verdict_) verdict_ = tls::evaluate(req_, observation());
    result_.reason = verdict_->reason;
    result_.failure = defer("4.7.5", verdict_->reason + "; nothing was sent");
  }

  // Permanent like the refusal before any connection (remote_delivery.cpp): the next MX may
  // still do better, this one will not.
  void refuse_requiretls() {
    result_.reason = handshake_error_;
    result_.failure = PermFail{"550 5.7.10 REQUIRETLS: MX " + target_.host +
                               " has no usable TLSA record; nothing was sent"};
  }

  tls::TlsObservation observation() const {
    return {starttls_offered_, tls_attempted_, peer_.has_value(), handshake_error_,
            peer_ ? &*peer_ : nullptr};
  }

  void finish(const smtp::ClientSession& session, std::size_t index) {
    const smtp::SessionFailure& f = session.failure();
    result_.session_failure = f;
    if (unauthenticated_requiretls_) return refuse_requiretls();
    if (session.authenticated()) result_.auth_mechanism = session.auth_mechanism();
    // A STARTTLS refused with 454 was offered all the same (after TLS the list is forgotten).
    starttls_offered_ = starttls_offered_ || session.capabilities().starttls;
    // The policy's word first: a refused TLS is a 4.7.x deferral whatever the session says.
    if (!verdict_ && is_tls_failure(f)) verdict_ = tls::evaluate(req_, observation());
    if (verdict_) {
      result_.reason = verdict_->reason;
      if (verdict_->kind == tls::Verdict::Kind::kDefer) {
        std::string why = verdict_->reason;
        if (f.reply.code != 0) why += " (server said \"" + f.reply.summary() + "\")";
        result_.failure = defer("4.7.5", why);
        return;
      }
      if (verdict_->kind == tls::Verdict::Kind::kProceedCleartext && tls_attempted_ && !peer_) {
        result_.retry_cleartext = true;  // this socket is spent; a new one may go without TLS
        result_.failure = defer("4.7.0", verdict_->reason);
        return;
      }
    } else if (req_.attempt_tls && !settings_.cleartext) {
      result_.reason = tls::evaluate(req_, observation()).reason;
    } else {
      result_.reason = std::string(tls::policy_name(req_.policy)) + ": cleartext";
    }
    read_transaction(session, index, result_);
  }

  // Session failures that are the TLS policy's business.
  static bool is_tls_failure(const smtp::SessionFailure& f) {
    return f.reason == FailureReason::kTlsRequiredNotOffered ||
           f.reason == FailureReason::kTlsFailed;
  }

  const AttemptTarget& target_;
  const tls::Requirement& decided_;  // as tls::decide made it: the cache key's
  tls::Requirement req_;             // a copy: narrowed when OpenSSL takes none of the TLSA records
  const AttemptSettings& settings_;
  Clock::time_point deadline_;
  Clock::time_point connected_at_{};
  std::unique_ptr<net::ClientConnection> conn_ = std::make_unique<net::ClientConnection>();
  std::unique_ptr<smtp::ClientSession> session_;
  bool narrowed_ = false;  // req_ lost its TLSA records (RFC 7672 §2.2)
  bool starttls_offered_ = false;
  bool tls_attempted_ = false;
  bool require_tls_ = false;                 // the message carries REQUIRETLS
  bool unauthenticated_requiretls_ = false;  // ... and this peer could not be authenticated
  std::string handshake_error_;
  std::optional<tls::PeerResult> peer_;
  std::optional<tls::Verdict> verdict_;
  AttemptResult result_;
};

}  // namespace

AttemptResult attempt(const AttemptTarget& target, const tls::Requirement& requirement,
                      const smtp::OutgoingMessage& message, const AttemptSettings& settings) {
  ConnectionCache* cache = settings.cache;
  if (cache && cache->enabled() && !settings.cleartext) {
    ConnectionKey key = kept_key(target, requirement, settings);
    while (std::unique_ptr<KeptConnection> kept = cache->take(key)) {
      std::optional<AttemptResult> r = send_kept(*kept, message, settings);
      if (!r) {
        kept->conn->close();  // dead: no QUIT, no log line, no deferral
        continue;
      }
      if (kept->session->idle()) {
        cache->keep(std::move(key), std::move(kept));
      } else {
        kept->conn->close();  // the session failed; it already wrote its QUIT, if any
      }
      return std::move(*r);
    }
  }
  return Attempt(target, requirement, settings).run(message);
}

}  // namespace sealpost::delivery::remote
