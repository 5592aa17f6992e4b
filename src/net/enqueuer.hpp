// Where the connection driver hands a finished transaction: make it durable, then answer.
// An interface so the driver has no knowledge of the spool (and tests can substitute one).
#pragma once

#include <asio/awaitable.hpp>
#include <optional>
#include <string>

#include "smtp/reply.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::net {

struct EnqueueOutcome {
  std::string queue_id;              // set on success
  std::optional<smtp::Reply> error;  // 451/452 on failure; nothing was kept
};

class Enqueuer {
 public:
  virtual ~Enqueuer() = default;
  // Resumes on the caller's executor once the message is durable (or has failed).
  virtual asio::awaitable<EnqueueOutcome> enqueue(smtp::Transaction txn) = 0;
};

}  // namespace sealpost::net
