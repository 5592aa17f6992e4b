// The probe over net::converse (the loop remote delivery runs too): the session says what to
// do, this file starts TLS and turns failures into sysexits codes. A second ReplyParser sees
// the same bytes only to keep the greeting line for the report.
#include "cli/tls_check/probe.hpp"

#include <unistd.h>

#include <algorithm>

#include "net/client_dialogue.hpp"
#include "smtp/client_session.hpp"
#include "smtp/reply_parser.hpp"

namespace sealpost::cli::tls_check {

namespace {

using net::ConnectError;
using net::HandshakeError;
using net::HandshakeFailure;
using smtp::FailureReason;

constexpr std::chrono::seconds kSmtpAfterTls{10};

int exit_code(ConnectError error) {
  switch (error) {
    case ConnectError::kNoHost:
      return kExNoHost;
    case ConnectError::kRefused:  // nothing listens there: no service
      return kExUnavailable;
    case ConnectError::kTempDns:
    case ConnectError::kTimeout:
    case ConnectError::kUnreachable:
      break;
  }
  return kExTempFail;
}

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

class Probe {
 public:
  Probe(const Options& o, const std::vector<tls::Tlsa>& tlsa, Deadline deadline)
      : o_(o), tlsa_(tlsa), deadline_(deadline) {}

  ProbeResult run(const std::vector<std::string>& addresses) {
    auto ctx = tls::make_client_context({o_.ca_file, /*enforce=*/false});
    if (!ctx) {
      fail(kExUsage, ctx.error());
      return std::move(result_);
    }
    ctx_ = std::move(*ctx);

    auto connected = conn_.connect(o_.host, o_.port, addresses, deadline_);
    if (!connected) {
      fail(exit_code(connected.error().kind), connected.error().message);
      return std::move(result_);
    }
    result_.address = conn_.peer_address();

    smtp::ClientSettings settings;
    settings.helo_name = o_.helo.empty() ? local_host_name() : o_.helo;
    settings.tls = o_.start == TlsStart::kImplicit ? smtp::TlsMode::kImplicit
                                                   : smtp::TlsMode::kRequireStartTls;
    smtp::ClientSession session(settings);
    session.quit();  // no message: greeting, EHLO, (STARTTLS, EHLO,) QUIT
    if (o_.start == TlsStart::kImplicit && !start_tls()) return std::move(result_);
    auto starttls = [this] {
      result_.starttls_offered = true;  // the session sends STARTTLS only when it is offered
      return start_tls();               // false: the connection is unusable now
    };
    auto greeting = [this](std::string_view bytes) { note_greeting(bytes); };
    // start_tls() shortens deadline_ once TLS is up; converse reads it at every step.
    net::converse(session, conn_, deadline_, starttls, greeting);
    conn_.close();

    if (!result_.error.empty()) return std::move(result_);  // the handshake failed
    const smtp::SessionFailure& f = session.failure();
    if (!tls_up_) {
      if (!result_.starttls_offered && session.capabilities().esmtp)
        result_.starttls_offered = session.capabilities().starttls;
      session_failed(f);
    } else {
      result_.auth_mechanisms = session.capabilities().auth_mechanisms;
      if (f.reason != FailureReason::kNone)
        result_.smtp_note = "SMTP over TLS failed: " + describe(f);
    }
    return std::move(result_);
  }

 private:
  void fail(int code, std::string message) {
    if (!result_.error.empty()) return;  // the first failure is the one to report
    result_.exit_code = code;
    result_.error = std::move(message);
  }

  bool start_tls() {
    net::SslPtr ssl(SSL_new(ctx_.get()));
    if (!ssl) {
      fail(kExSoftware, "SSL_new failed");
      return false;
    }
    tls::PeerReference peer{o_.reference_name, o_.sni, tlsa_};
    auto setup = tls::configure_peer(ssl.get(), peer);
    if (!setup) {
      fail(kExUsage, setup.error());
      return false;
    }
    result_.setup = *setup;
    auto done = conn_.handshake(std::move(ssl), deadline_);
    result_.peer = tls::examine_peer(conn_.ssl());
    if (done) {
      tls_up_ = true;
      // What follows (greeting or EHLO over TLS, QUIT) only completes the report: a TLS
      // service that is not SMTP must not hold the verdict back for the whole --timeout.
      deadline_ = std::min(deadline_, Clock::now() + kSmtpAfterTls);
      return true;
    }
    const HandshakeFailure& h = done.error();
    std::string message = h.message;
    if (h.plaintext && o_.start == TlsStart::kImplicit)
      message += " (the server did not answer in TLS: a STARTTLS port? try --starttls)";
    fail(h.kind == HandshakeError::kTimeout ? kExTempFail : kExUnavailable, message);
    return false;
  }

  void note_greeting(std::string_view bytes) {
    if (!result_.greeting.empty() || greeting_parser_.error() != smtp::ReplyError::kNone) return;
    greeting_parser_.feed(bytes);
    if (auto reply = greeting_parser_.next()) {
      result_.greeting = std::to_string(reply->code);
      if (!reply->lines.empty()) result_.greeting += " " + reply->lines.front();
    }
  }

  static std::string describe(const smtp::SessionFailure& f) {
    std::string what =
        f.detail.empty() ? std::string(smtp::failure_reason_name(f.reason)) : f.detail;
    if (f.reply.code != 0) what += " (server said \"" + f.reply.summary() + "\")";
    return what;
  }

  // The session ended before TLS: say why, in the words an administrator needs.
  void session_failed(const smtp::SessionFailure& f) {
    int by_reply = f.reply.transient() ? kExTempFail : kExUnavailable;
    std::string server = f.reply.code != 0 ? ": server said \"" + f.reply.summary() + "\"" : "";
    switch (f.reason) {
      case FailureReason::kTlsRequiredNotOffered:
        result_.starttls_offered = false;
        return fail(kExUnavailable,
                    "STARTTLS is not offered by " + o_.host + " (not in its EHLO reply)");
      case FailureReason::kTlsFailed:
        return fail(by_reply, "STARTTLS refused" + server);
      case FailureReason::kGreeting:
        return fail(by_reply, "no SMTP service" + server);
      case FailureReason::kHeloRejected:
        return fail(by_reply, "EHLO refused" + server);
      case FailureReason::kTimeout:
        if (result_.greeting.empty())
          return fail(kExTempFail,
                      "no SMTP greeting within the timeout (an implicit TLS port? try --implicit)");
        return fail(kExTempFail, "timed out waiting for the server");
      case FailureReason::kServerClosed:
        if (f.reply.code != 0) return fail(kExTempFail, "the server is closing" + server);
        return fail(kExTempFail, std::string("the server closed the connection") +
                                     (result_.greeting.empty() ? " before its greeting" : ""));
      case FailureReason::kProtocolError:
        return fail(kExProtocol, "SMTP protocol error: " + describe(f));
      default:
        return fail(kExUnavailable, describe(f));
    }
  }

  const Options& o_;
  const std::vector<tls::Tlsa>& tlsa_;
  Deadline deadline_;
  tls::SslCtxPtr ctx_;
  net::ClientConnection conn_;
  bool tls_up_ = false;
  smtp::ReplyParser greeting_parser_;
  ProbeResult result_;
};

}  // namespace

ProbeResult probe(const Options& options, const std::vector<tls::Tlsa>& tlsa,
                  const std::vector<std::string>& addresses, Deadline deadline) {
  return Probe(options, tlsa, deadline).run(addresses);
}

}  // namespace sealpost::cli::tls_check
