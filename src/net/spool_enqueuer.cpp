// SpoolEnqueuer: the only place a 250 after DATA is earned. The reply waits for
// Spool::commit, which returns after fdatasync and the directory fsync.
#include "net/spool_enqueuer.hpp"

#include <spdlog/spdlog.h>

#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <ctime>

#include "queue/queue_id.hpp"
#include "smtp/received.hpp"

namespace sealpost::net {

asio::awaitable<EnqueueOutcome> SpoolEnqueuer::enqueue(smtp::Transaction txn) {
  std::string id = queue::make_queue_id();
  std::string header = smtp::received_header(txn, hostname_, id, std::time(nullptr), expose_user_);
  if (expose_user_ && !txn.auth_user.empty()) {
    // RFC 8601 §2.7.4: the result of SMTP AUTH, only when the operator chose to expose it.
    header = "Authentication-Results: " + hostname_ + "; auth=pass smtp.auth=" + txn.auth_user +
             "\r\n" + header;
  }
  queue::Envelope envelope{txn.reverse_path, txn.recipients, txn.smtputf8, txn.body_8bit};
  const std::string_view parts[] = {header, txn.body};

  auto caller = co_await asio::this_coro::executor;
  co_await asio::post(io_pool_, asio::use_awaitable);
  queue::CommitResult result = spool_.commit(id, envelope, parts);
  co_await asio::post(caller, asio::use_awaitable);

  if (!result.ok()) {
    spdlog::error("{}: from=<{}> nrcpt={} size={} result=failed: {}", id, txn.reverse_path,
                  txn.recipients.size(), txn.body.size(), result.what);
    // RFC 3463: X.3.1 "mail system full"; anything else is a local processing error.
    bool full = result.error == ENOSPC || result.error == EDQUOT;
    co_return EnqueueOutcome{
        "", full ? smtp::make_reply(452, "4.3.1", "Insufficient system storage")
                 : smtp::make_reply(451, "4.3.0", "Local error in processing; try again later")};
  }
  spdlog::info("{}: from=<{}> nrcpt={} size={} tls={} user={} result=queued", id, txn.reverse_path,
               txn.recipients.size(), txn.body.size(),
               txn.tls.active ? txn.tls.version : std::string("none"),
               txn.auth_user.empty() ? "-" : txn.auth_user);
  scheduler_.enqueue(id);
  co_return EnqueueOutcome{id, std::nullopt};
}

}  // namespace sealpost::net
