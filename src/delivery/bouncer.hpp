// Turns the scheduler's failures into a delivery status notification (delivery/bounce.hpp)
// and queues it durably like any other message: from <> to the original envelope sender,
// then handed to the scheduler. A message from <> is never bounced (RFC 5321 §6.1); its
// failures are only logged. The report on a REQUIRETLS message goes with REQUIRETLS and
// returns the original's header section only (RFC 8689 §5).
#pragma once

#include <functional>
#include <span>
#include <string>

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

 private:
  queue::Spool& spool_;
  std::string hostname_;
  EnqueueFn enqueue_;
};

// The RFC 3463 status of a reply: its enhanced code ("550 5.1.1 ..." → "5.1.1"), else the
// class of its basic code ("550 ..." → "5.0.0").
std::string status_of_reply(std::string_view reply);

}  // namespace sealpost::delivery
