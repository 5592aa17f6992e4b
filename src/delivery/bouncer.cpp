#include "delivery/bouncer.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <ctime>

#include "delivery/bounce.hpp"
#include "queue/queue_id.hpp"
#include "smtp/received.hpp"

namespace sealpost::delivery {

namespace {

bool is_status(std::string_view s) {
  // class "." subject "." detail (RFC 3463 §2), class 2, 4 or 5.
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
  std::size_t dots = 0;
  for (char c : s.substr(2)) {
    if (c == '.') {
      ++dots;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return dots == 1 && s.back() != '.' && s[2] != '.';
}

}  // namespace

std::string status_of_reply(std::string_view reply) {
  if (reply.size() >= 4 && (reply[3] == ' ' || reply[3] == '-')) {
    std::string_view rest = reply.substr(4);
    std::string_view word = rest.substr(0, rest.find(' '));
    if (is_status(word) && word[0] == reply[0]) return std::string(word);
  }
  return (!reply.empty() && reply[0] == '4') ? "4.0.0" : "5.0.0";
}

bool Bouncer::operator()(const queue::StoredMessage& message,
                         std::span<const Scheduler::Failure> failures) const {
  const auto& envelope = message.envelope;
  if (envelope.reverse_path.empty()) {
    spdlog::info("delivery: {} from=<> not bounced (a bounce is never bounced): {} recipient(s)",
                 message.id, failures.size());
    return true;
  }
  const std::time_t now = std::time(nullptr);
  const std::string id = queue::make_queue_id();
  BounceRequest request;
  request.reporting_mta = hostname_;
  request.sender = envelope.reverse_path;
  request.queue_id = message.id;
  if (auto micros = queue::queue_id_micros(message.id))
    request.arrival_date = smtp::rfc5322_date(static_cast<std::time_t>(*micros / 1000000));
  request.date = smtp::rfc5322_date(now);
  request.message_id = id + ".bounce@" + hostname_;
  request.boundary = "=_sealpost_" + id;
  while (message.content.find(request.boundary) != std::string::npos) request.boundary += "_";
  request.original = message.content;
  request.envelope_id = envelope.envid;
  // RFC 8689 §5: the sender of a REQUIRETLS message asked for its content to cross the network
  // only under authenticated TLS; the report returns the header section, never the body, and
  // travels under REQUIRETLS itself (below), whatever RET asked for.
  request.headers_only = envelope.ret == queue::Ret::kHdrs || envelope.requiretls;
  for (const auto& f : failures) {
    const queue::RecipientDsn dsn = envelope.dsn_for(f.rcpt);
    // RFC 3461 §4.1: with NOTIFY given, a failure is reported only if FAILURE was asked for
    // (NEVER, or SUCCESS/DELAY alone, mean no failure DSN).
    if (dsn.notify != 0 && !(dsn.notify & queue::kNotifyFailure)) {
      spdlog::info("delivery: {} to=<{}> not reported: NOTIFY without FAILURE", message.id,
                   envelope.recipients.at(f.rcpt));
      continue;
    }
    RecipientStatus status;
    status.final_recipient = envelope.recipients.at(f.rcpt);
    if (!dsn.orcpt_type.empty()) status.original_recipient = dsn.orcpt_type + ";" + dsn.orcpt;
    status.action = RecipientStatus::Action::kFailed;
    // RFC 3463 §3.5: X.4.7, delivery time expired; the last reply says what kept failing.
    status.status = f.expired ? "4.4.7" : status_of_reply(f.reply);
    status.diagnostic = f.reply;
    status.last_attempt_date = request.date;
    request.recipients.push_back(std::move(status));
  }
  if (request.recipients.empty()) return true;
  auto report = make_bounce(request);
  if (!report) return true;

  queue::Envelope bounce_envelope;
  bounce_envelope.recipients = {envelope.reverse_path};
  // A UTF-8 sender can only be reached with SMTPUTF8; the report itself is 8-bit then.
  bounce_envelope.smtputf8 = envelope.smtputf8;
  bounce_envelope.body_8bit = true;
  bounce_envelope.requiretls = envelope.requiretls;
  const std::string_view parts[] = {*report};
  const auto result = spool_.commit(id, bounce_envelope, parts);
  if (!result.ok()) {
    spdlog::error("delivery: {} bounce to <{}> cannot be queued: {}", message.id,
                  envelope.reverse_path, result.what);
    return false;
  }
  spdlog::info("delivery: {} bounce {} queued to <{}> for {} recipient(s){}", message.id, id,
               envelope.reverse_path, failures.size(),
               envelope.requiretls ? " requiretls headers-only" : "");
  enqueue_(id);
  return true;
}

}  // namespace sealpost::delivery
