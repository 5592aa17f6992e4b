// The production Enqueuer: prepends the Received header, commits the message to the spool on
// a blocking-I/O thread pool (fsyncs never stall an event loop), then schedules delivery.
#pragma once

#include <asio/thread_pool.hpp>
#include <string>

#include "delivery/scheduler.hpp"
#include "net/enqueuer.hpp"
#include "queue/spool.hpp"

namespace sealpost::net {

class SpoolEnqueuer : public Enqueuer {
 public:
  // expose_user: name the authenticated user in Received and Authentication-Results.
  SpoolEnqueuer(queue::Spool& spool, delivery::Scheduler& scheduler, asio::thread_pool& io_pool,
                std::string hostname, bool expose_user = false)
      : spool_(spool),
        scheduler_(scheduler),
        io_pool_(io_pool),
        hostname_(std::move(hostname)),
        expose_user_(expose_user) {}

  asio::awaitable<EnqueueOutcome> enqueue(smtp::Transaction txn) override;

 private:
  queue::Spool& spool_;
  delivery::Scheduler& scheduler_;
  asio::thread_pool& io_pool_;
  std::string hostname_;
  bool expose_user_;
};

}  // namespace sealpost::net
