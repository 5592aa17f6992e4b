// Turns the scheduler's reports into delivery status notifications (delivery/bounce.hpp) and
// queues each durably like any other message: from <> to the original envelope sender, then
// handed to the scheduler. Failures (bounces), successes (NOTIFY=SUCCESS: "delivered" or
// "relayed") and delay warnings each make their own report. Nothing is ever sent to <> (RFC
// 5321 §6.1: a bounce is never bounced); such reports are only logged. The report on a
// REQUIRETLS message goes with REQUIRETLS and returns the original's header section only
// (RFC 8689 §5).
#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "delivery/bounce.hpp"
#include "delivery/scheduler.hpp"
#include "queue/spool.hpp"

namespace sealpost::delivery {

class Bouncer {
 public:
  using EnqueueFn = std::function<void(std::string id)>;

  Bouncer(queue::Spool& spool, std::string hostname, EnqueueFn enqueue)
      : spool_(spool), hostname_(std::move(hostname)), enqueue_(std::move(enqueue)) {}

  // Scheduler::BounceFn: true once the report is durable (or there is no one to send it to).
  bool operator()(const queue::StoredMessage& message,
                  std::span<const Scheduler::Failure> failures) const;
  // Scheduler::SuccessFn: the scheduler already chose who asked for it.
  bool report_success(const queue::StoredMessage& message,
                      std::span<const Scheduler::Success> successes) const;
  // Scheduler::DelayFn: the scheduler already chose who asked for it.
  bool warn_delay(const queue::StoredMessage& message,
                  std::span<const Scheduler::Deferral> deferrals,
                  std::chrono::system_clock::time_point retry_until) const;

 private:
  // What every report of `message` shares; `tag` goes into its Message-ID.
  BounceRequest request_for(const queue::StoredMessage& message, const std::string& id,
                            std::time_t now, std::string_view tag) const;
  RecipientStatus status_for(const queue::StoredMessage& message, unsigned rcpt) const;
  // Commits the report as message `id` from <> to the sender and enqueues it; `what` and
  // `count` are for the log line.
  bool queue_report(const queue::StoredMessage& message, const std::string& id,
                    const BounceRequest& request, std::string_view what, std::size_t count) const;

  queue::Spool& spool_;
  std::string hostname_;
  EnqueueFn enqueue_;
};

// The RFC 3463 status of a reply: its enhanced code ("550 5.1.1 ..." → "5.1.1"), else the
// class of its basic code ("550 ..." → "5.0.0").
std::string status_of_reply(std::string_view reply);

}  // namespace sealpost::delivery
