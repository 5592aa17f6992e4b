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

BounceRequest Bouncer::request_for(const queue::StoredMessage& message, const std::string& id,
                                   std::time_t now, std::string_view tag) const {
  const auto& envelope = message.envelope;
  BounceRequest request;
  request.reporting_mta = hostname_;
  request.sender = envelope.reverse_path;
  request.queue_id = message.id;
  if (auto micros = queue::queue_id_micros(message.id))
    request.arrival_date = smtp::rfc5322_date(static_cast<std::time_t>(*micros / 1000000));
  request.date = smtp::rfc5322_date(now);
  request.message_id = id + "." + std::string(tag) + "@" + hostname_;
  request.boundary = "=_sealpost_" + id;
  while (message.content.find(request.boundary) != std::string::npos) request.boundary += "_";
  request.original = message.content;
  request.envelope_id = envelope.envid;
  return request;
}

RecipientStatus Bouncer::status_for(const queue::StoredMessage& message, unsigned rcpt) const {
  const queue::RecipientDsn dsn = message.envelope.dsn_for(rcpt);
  RecipientStatus status;
  status.final_recipient = message.envelope.recipients.at(rcpt);
  if (!dsn.orcpt_type.empty()) status.original_recipient = dsn.orcpt_type + ";" + dsn.orcpt;
  return status;
}

bool Bouncer::queue_report(const queue::StoredMessage& message, const std::string& id,
                           const BounceRequest& request, std::string_view what,
                           std::size_t count) const {
  const auto& envelope = message.envelope;
  auto report = make_bounce(request);
  if (!report) return true;
  queue::Envelope report_envelope;
  report_envelope.recipients = {envelope.reverse_path};
  // A UTF-8 sender can only be reached with SMTPUTF8; the report itself is 8-bit then.
  report_envelope.smtputf8 = envelope.smtputf8;
  report_envelope.body_8bit = true;
  report_envelope.requiretls = envelope.requiretls;
  const std::string_view parts[] = {*report};
  const auto result = spool_.commit(id, report_envelope, parts);
  if (!result.ok()) {
    spdlog::error("delivery: {} {} to <{}> cannot be queued: {}", message.id, what,
                  envelope.reverse_path, result.what);
    return false;
  }
  spdlog::info("delivery: {} {} {} queued to <{}> for {} recipient(s){}", message.id, what, id,
               envelope.reverse_path, count, envelope.requiretls ? " requiretls headers-only" : "");
  enqueue_(id);
  return true;
}

bool Bouncer::operator()(const queue::StoredMessage& message,
                         std::span<const Scheduler::Failure> failures) const {
  const auto& envelope = message.envelope;
  if (envelope.reverse_path.empty()) {
    spdlog::info("delivery: {} from=<> not bounced (a bounce is never bounced): {} recipient(s)",
                 message.id, failures.size());
    return true;
  }
  const std::string id = queue::make_queue_id();
  BounceRequest request = request_for(message, id, std::time(nullptr), "bounce");
  // RFC 8689 §5: the sender of a REQUIRETLS message asked for its content to cross the network
  // only under authenticated TLS; the report returns the header section, never the body, and
  // travels under REQUIRETLS itself (queue_report), whatever RET asked for.
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
    RecipientStatus status = status_for(message, f.rcpt);
    status.action = RecipientStatus::Action::kFailed;
    // RFC 3463 §3.5: X.4.7, delivery time expired; the last reply says what kept failing.
    status.status = f.expired ? "4.4.7" : status_of_reply(f.reply);
    status.diagnostic = f.reply;
    status.last_attempt_date = request.date;
    request.recipients.push_back(std::move(status));
  }
  if (request.recipients.empty()) return true;
  return queue_report(message, id, request, "bounce", failures.size());
}

bool Bouncer::report_success(const queue::StoredMessage& message,
                             std::span<const Scheduler::Success> successes) const {
  const auto& envelope = message.envelope;
  if (envelope.reverse_path.empty()) {
    spdlog::info("delivery: {} from=<> gets no success report: {} recipient(s)", message.id,
                 successes.size());
    return true;
  }
  const std::string id = queue::make_queue_id();
  BounceRequest request = request_for(message, id, std::time(nullptr), "dsn");
  // RFC 3461 §4.3: RET governs what a failure report returns; a report of success returns the
  // header section unless RET=FULL asked for the whole message (REQUIRETLS: never the body).
  request.headers_only = envelope.ret != queue::Ret::kFull || envelope.requiretls;
  for (const auto& s : successes) {
    RecipientStatus status = status_for(message, s.rcpt);
    // RFC 3464 §2.3.3: "delivered" into the mailbox (RFC 3461 §5.2.3); "relayed" to a server
    // that took no DSN parameters and so will not report delivery (RFC 3461 §5.2.2).
    status.action = s.delivered.relayed ? RecipientStatus::Action::kRelayed
                                        : RecipientStatus::Action::kDelivered;
    status.status = s.delivered.reply.empty() ? "2.0.0" : status_of_reply(s.delivered.reply);
    if (status.status[0] != '2') status.status = "2.0.0";
    status.remote_mta = s.delivered.remote_mta;
    status.diagnostic = s.delivered.reply;
    status.last_attempt_date = request.date;
    request.recipients.push_back(std::move(status));
  }
  return queue_report(message, id, request, "success report", successes.size());
}

bool Bouncer::warn_delay(const queue::StoredMessage& message,
                         std::span<const Scheduler::Deferral> deferrals,
                         std::chrono::system_clock::time_point retry_until) const {
  const auto& envelope = message.envelope;
  if (envelope.reverse_path.empty()) {
    spdlog::info("delivery: {} from=<> gets no delay warning: {} recipient(s)", message.id,
                 deferrals.size());
    return true;
  }
  const std::string id = queue::make_queue_id();
  BounceRequest request = request_for(message, id, std::time(nullptr), "delay");
  // As for success: the sender will get the message back, or see it delivered, later.
  request.headers_only = envelope.ret != queue::Ret::kFull || envelope.requiretls;
  const std::string until = smtp::rfc5322_date(std::chrono::system_clock::to_time_t(retry_until));
  for (const auto& d : deferrals) {
    RecipientStatus status = status_for(message, d.rcpt);
    status.action = RecipientStatus::Action::kDelayed;
    status.status = status_of_reply(d.reply);  // 4.x.x from the last deferral
    if (status.status[0] != '4') status.status = "4.0.0";
    status.diagnostic = d.reply;
    status.last_attempt_date = request.date;
    status.will_retry_until = until;  // RFC 3464 §2.3.9
    request.recipients.push_back(std::move(status));
  }
  return queue_report(message, id, request, "delay warning", deferrals.size());
}

}  // namespace sealpost::delivery
