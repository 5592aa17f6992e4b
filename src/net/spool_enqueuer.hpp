// The production Enqueuer: prepends the Received header, submits the message to the spool's
// group committer (fsyncs never stall an event loop and are shared between sessions), then
// schedules delivery.
#pragma once

#include <string>

#include "delivery/scheduler.hpp"
#include "net/enqueuer.hpp"
#include "queue/spool.hpp"

namespace sealpost::net {

class SpoolEnqueuer : public Enqueuer {
 public:
  // expose_user: name the authenticated user in Received and Authentication-Results.
  SpoolEnqueuer(queue::Spool& spool, delivery::Scheduler& scheduler, std::string hostname,
                bool expose_user = false)
      : spool_(spool),
        scheduler_(scheduler),
        hostname_(std::move(hostname)),
        expose_user_(expose_user) {}

  asio::awaitable<EnqueueOutcome> enqueue(smtp::Transaction txn) override;

 private:
  queue::Spool& spool_;
  delivery::Scheduler& scheduler_;
  std::string hostname_;
  bool expose_user_;
};

}  // namespace sealpost::net
