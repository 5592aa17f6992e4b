// The driver: one connection, one message. The session decides the protocol; this file only
// finds the server (discovery.hpp: SRV), moves bytes, performs STARTTLS and maps the outcome to
// sysexits(3):
//   75 EX_TEMPFAIL    4xx replies, timeouts (--timeout: each read, write and TLS handshake;
//                     --connect-timeout: the TCP connect), connection refused/closed, DNS
//                     EAI_AGAIN, DNS SERVFAIL or DNSSEC-bogus SRV/address answers
//   69 EX_UNAVAILABLE 5xx to the session/MAIL/RCPT, TLS failures (certificate, name, pin,
//                     STARTTLS required but missing): a security refusal is not retried;
//                     an SRV record with target "." (no submission service at the domain)
//   65 EX_DATAERR     5xx to the message data (and SIZE, 8BITMIME, SMTPUTF8 missing for a UTF-8
//                     address or header field), bare CR
//   68 EX_NOHOST      the server name does not resolve
//   76 EX_PROTOCOL    a reply that breaks the protocol
//   64 EX_USAGE / 78 EX_CONFIG / 70 EX_SOFTWARE
#include "cli/send/send_driver.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <iostream>
#include <iterator>
#include <optional>
#include <string_view>

#include "cli/send/discovery.hpp"
#include "cli/send/message_prep.hpp"
#include "cli/send/tls_client.hpp"
#include "net/client_authenticator.hpp"

namespace sealpost::send {

namespace {

using smtp::FailureReason;

std::string local_host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

std::string reply_text(const smtp::Reply& reply) {
  return reply.code == 0 ? std::string() : ": server said \"" + reply.summary() + "\"";
}

int code_for_reply(const smtp::Reply& reply, int permanent) {
  if (reply.transient()) return kExTempFail;
  if (reply.permanent()) return permanent;
  return 0;
}

int session_failure_code(const smtp::SessionFailure& f) {
  switch (f.reason) {
    case FailureReason::kTimeout:
    case FailureReason::kServerClosed:
      return kExTempFail;
    case FailureReason::kProtocolError:
      return kExProtocol;
    case FailureReason::kTlsRequiredNotOffered:
    case FailureReason::kTlsFailed:
    case FailureReason::kAuthNotOffered:
    case FailureReason::kAuthRequiresTls:
      // A refusal to protect the message is final, unless the server said "try later" (454).
      return f.reply.transient() ? kExTempFail : kExUnavailable;
    default:
      if (int c = code_for_reply(f.reply, kExUnavailable)) return c;
      return kExUnavailable;
  }
}

// What a reply timeout was waiting for, from the last command written: the session knows but
// does not say, and "timed out" alone does not tell a wrong port from a slow server.
std::string awaited_after(std::string_view written) {
  if (written.find("BDAT ") != std::string_view::npos) return "the reply to BDAT";
  while (written.ends_with("\r\n")) written.remove_suffix(2);
  auto start = written.rfind("\r\n");
  std::string_view line = start == std::string_view::npos ? written : written.substr(start + 2);
  if (line == ".") return "the reply to the message data";
  std::string verb(line.substr(0, line.find(' ')));
  for (const char* known :
       {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "QUIT"})
    if (verb == known) return "the reply to " + verb;
  return "the server's reply";  // an AUTH continuation
}

bool data_reason(FailureReason r) {
  return r == FailureReason::kDataRejected || r == FailureReason::kSizeExceeded ||
         r == FailureReason::kSmtpUtf8Unsupported || r == FailureReason::kUtf8HeadersUnsupported ||
         r == FailureReason::kEightBitUnsupported || r == FailureReason::kInvalidMessage;
}

class Run {
 public:
  Run(const SendOptions& o, std::ostream& err) : o_(o), err_(err) {}

  int fail(int code, const std::string& message) {
    err_ << "sealpost send: " << message << "\n";
    return code;
  }

  int operator()(std::istream& in) {
    std::string raw{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    PrepareInput pin;
    pin.raw = raw;
    pin.recipients = o_.recipients;
    pin.recipients_from_headers = o_.recipients_from_headers;
    pin.sender = o_.sender;
    if (o_.user.find('@') != std::string::npos) pin.fallback_sender = o_.user;
    pin.full_name = o_.full_name;
    pin.domain = o_.host;
    PreparedMessage msg = prepare_message(pin);
    if (!msg.ok) return fail(msg.exit_code, msg.error);

    Discovery discovery(o_);
    auto route = discovery.route();
    if (!route) return fail(route.error().exit_code, route.error().message);
    if (o_.verbose) err_ << "sealpost send: " << route->how << "\n";
    if (auto failed = connect(discovery, *route)) return fail(failed->exit_code, failed->message);
    TlsParams tls{route->server_name, o_.ca_file, o_.pin_sha256, route->also_accept};
    const std::chrono::seconds step(o_.timeout);
    if (o_.tls == TlsChoice::kImplicit && !client_.start_tls(tls, step))
      return fail(client_.timed_out() ? kExTempFail : kExUnavailable,
                  client_.error() + "; nothing sent");
    if (o_.verbose && client_.tls_active())
      err_ << "sealpost send: " << client_.tls_description() << "\n";

    net::SaslClientAuthenticator adapter(o_.user, o_.password, o_.mechanism);
    if (o_.tls == TlsChoice::kImplicit) adapter.set_tls_exporter(client_.tls_exporter());
    smtp::ClientSettings settings;
    settings.helo_name = o_.helo_name.empty() ? local_host_name() : o_.helo_name;
    settings.tls = o_.tls == TlsChoice::kImplicit   ? smtp::TlsMode::kImplicit
                   : o_.tls == TlsChoice::kStartTls ? smtp::TlsMode::kRequireStartTls
                                                    : smtp::TlsMode::kNone;
    settings.allow_auth_without_tls = o_.tls == TlsChoice::kNone;
    smtp::ClientSession session(settings, o_.user.empty() ? nullptr : &adapter);
    smtp::OutgoingMessage outgoing{msg.reverse_path, msg.recipients, msg.content};
    // RFC 6531 §3.1 / RFC 6532 §3.4: UTF-8 header fields need SMTPUTF8 as much as a UTF-8
    // address does; without it the server is not told, so the session refuses instead.
    outgoing.smtputf8 = msg.utf8_headers;
    session.add_message(std::move(outgoing));
    session.quit();

    std::string tls_error;
    bool tls_timed_out = false;
    std::string awaited = "the server's greeting";
    std::chrono::seconds waited = step;  // the RFC 5321 wait may be the shorter one
    for (;;) {
      flush_log(session);
      std::string out = session.take_output();
      if (!out.empty()) {
        awaited = awaited_after(out);
        auto wrote = client_.write_all(out, step);
        if (wrote == IoStatus::kTimeout && session.action() != smtp::ClientAction::kClose) {
          awaited = "the server to take our data";  // it stopped reading
          waited = step;
          session.on_timeout();
          continue;
        }
        if (wrote != IoStatus::kOk && session.action() != smtp::ClientAction::kClose) {
          session.on_closed();  // the peer went away mid-write: as if it had closed
          continue;
        }
      }
      auto action = session.action();
      if (action == smtp::ClientAction::kClose || action == smtp::ClientAction::kDone) break;
      if (action == smtp::ClientAction::kStartTls) {
        if (client_.start_tls(tls, step)) {
          adapter.set_tls_exporter(client_.tls_exporter());
          if (o_.verbose) err_ << "sealpost send: " << client_.tls_description() << "\n";
          session.on_tls_started();
        } else {
          tls_error = client_.error();
          tls_timed_out = client_.timed_out();
          session.on_tls_failed();
        }
        continue;
      }
      std::string in_bytes;
      // The RFC 5321 wait for this reply, but never longer than --timeout.
      auto wait = session.timeout();
      waited = wait.count() > 0 ? std::min(wait, step) : step;
      switch (client_.read_some(in_bytes, waited)) {
        case IoStatus::kOk:
          session.receive(in_bytes);
          break;
        case IoStatus::kTimeout:
          session.on_timeout();
          break;
        case IoStatus::kEof:
        case IoStatus::kError:
          session.on_closed();
          break;
      }
    }
    flush_log(session);
    client_.close();

    const smtp::SessionFailure& f = session.failure();
    const auto& results = session.results();
    if (results.empty()) return fail(kExSoftware, "internal error: no result");
    const smtp::TransactionResult& r = results.front();
    if (r.outcome == smtp::Outcome::kDelivered) {
      // Some recipients may have been refused while others were accepted: the message went
      // out, but the caller must hear of every recipient that will not get it.
      int code = 0;
      for (const auto& rr : r.recipients) {
        if (rr.outcome == smtp::Outcome::kDelivered) continue;
        int c = code_for_reply(rr.reply, kExUnavailable);
        if (c == 0) c = kExUnavailable;
        err_ << "sealpost send: <" << rr.forward_path << "> refused" << reply_text(rr.reply)
             << "\n";
        if (code != kExUnavailable) code = c;
      }
      return code;
    }
    if (f.reason != FailureReason::kNone && r.reason == f.reason) {
      std::string what =
          f.detail.empty() ? std::string(smtp::failure_reason_name(f.reason)) : f.detail;
      if (f.reason == FailureReason::kTlsFailed && !tls_error.empty()) what = tls_error;
      std::string outcome = "; message not sent";
      if (f.reason == FailureReason::kTimeout) {
        what = "timed out after " + std::to_string(waited.count()) + " s waiting for " + awaited;
        // RFC 1047: the server may have taken it before going silent (a retry duplicates).
        if (awaited.ends_with("message data") || awaited.ends_with("BDAT"))
          outcome = "; the server may or may not have accepted the message";
      }
      if (f.reason == FailureReason::kAuthFailed && !adapter.failure_detail().empty() &&
          f.reply.code == 0)
        what += " (" + adapter.failure_detail() + ")";
      int code = tls_timed_out && f.reason == FailureReason::kTlsFailed ? kExTempFail
                                                                        : session_failure_code(f);
      return fail(code, what + reply_text(f.reply) + outcome);
    }
    std::string what =
        r.detail.empty() ? std::string(smtp::failure_reason_name(r.reason)) : r.detail;
    int code;
    if (r.outcome == smtp::Outcome::kTempFail) {
      code = kExTempFail;
    } else if (data_reason(r.reason)) {
      code = kExDataErr;
    } else {
      code = kExUnavailable;
    }
    return fail(code, what + reply_text(r.reply) + "; message not sent");
  }

 private:
  // Each target in order, each of its addresses, until one accepts the TCP connection
  // (RFC 2782: on failure the next target). TLS failures are not retried elsewhere: they are
  // refusals, not outages.
  std::optional<DiscoveryError> connect(Discovery& discovery, const Route& route) {
    auto timeout = std::chrono::seconds(o_.connect_timeout);
    DiscoveryError last{kExTempFail, "no server to connect to"};
    bool all_nohost = true;
    for (const auto& target : route.targets) {
      if (!discovery.resolves_addresses()) {
        auto status = client_.connect(target.host, target.port, timeout);
        if (status == ConnectStatus::kOk) return std::nullopt;
        all_nohost = all_nohost && status == ConnectStatus::kNoHost;
        last.message = client_.error();
        continue;
      }
      auto addresses = discovery.addresses(target.host);
      if (!addresses) {
        if (addresses.error().exit_code == kExConfig) return addresses.error();
        all_nohost = all_nohost && addresses.error().exit_code == kExNoHost;
        last.message = addresses.error().message;
        continue;
      }
      all_nohost = false;
      for (const auto& address : *addresses) {
        if (client_.connect(address, target.port, timeout) == ConnectStatus::kOk)
          return std::nullopt;
        last.message = client_.error() + " (" + target.host + ")";
      }
    }
    last.exit_code = all_nohost ? kExNoHost : kExTempFail;
    return last;
  }

  void flush_log(smtp::ClientSession& session) {
    for (auto& line : session.take_log())
      if (o_.verbose) err_ << "sealpost send: " << line << "\n";
  }

  const SendOptions& o_;
  std::ostream& err_;
  TlsClient client_;
};

}  // namespace

int run_send(const SendOptions& options, std::istream& in, std::ostream& err) {
  // A server that closes mid-write must give EPIPE, not kill us (SSL_write uses write(2)).
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return Run(options, err)(in);
  } catch (const std::exception& e) {
    err << "sealpost send: internal error: " << e.what() << "\n";
    return kExSoftware;
  }
}

int sendmail_main(int argc, char** argv) {
  CLI::App app{"sendmail (sealpost send) - submit a message over SMTPS"};
  SendOptions options;
  add_send_options(app, options);
  app.allow_extras(false);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int status = app.exit(e);
    return status == 0 ? 0 : kExUsage;
  }
  if (auto e = finish_send_options(options)) {
    std::cerr << "sendmail: " << e->message << "\n";
    return e->exit_code;
  }
  return run_send(options, std::cin, std::cerr);
}

}  // namespace sealpost::send
