// SpoolEnqueuer: the only place a 250 after DATA is earned. The reply waits for the spool's
// committer to report the batch holding this message durable (fdatasync done).
#include "net/spool_enqueuer.hpp"

#include <spdlog/spdlog.h>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <ctime>
#include <memory>

#include "queue/queue_id.hpp"
#include "smtp/received.hpp"

namespace sealpost::net {

namespace {

// The session's view of the envelope into the spool's (smtp and queue share no types: the
// DSN values are mirrored one to one, see smtp/dsn.hpp and queue/envelope.hpp).
queue::Envelope envelope_of(const smtp::Transaction& txn) {
  queue::Envelope e{txn.reverse_path, txn.recipients, txn.smtputf8, txn.body_8bit};
  e.ret = static_cast<queue::Ret>(txn.ret);
  e.envid = txn.envid;
  e.requiretls = txn.requiretls;
  e.recipient_dsn.reserve(txn.recipient_dsn.size());
  for (const smtp::RecipientDsn& d : txn.recipient_dsn)
    e.recipient_dsn.push_back(queue::RecipientDsn{d.notify, d.orcpt_type, d.orcpt});
  return e;
}
static_assert(static_cast<int>(queue::Ret::kFull) == static_cast<int>(smtp::Ret::kFull) &&
              static_cast<int>(queue::Ret::kHdrs) == static_cast<int>(smtp::Ret::kHdrs));
static_assert(queue::kNotifySuccess == smtp::kNotifySuccess &&
              queue::kNotifyFailure == smtp::kNotifyFailure &&
              queue::kNotifyDelay == smtp::kNotifyDelay &&
              queue::kNotifyNever == smtp::kNotifyNever);

// Hands the request to the spool's committer and suspends the coroutine until its batch is
// durable (or failed). The completion hops back to the coroutine's own executor: the
// committer thread only posts, it never runs session code.
asio::awaitable<queue::CommitResult> commit_async(queue::Spool& spool,
                                                  queue::CommitRequest request) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(queue::CommitResult)>(
      [&spool](auto handler, queue::CommitRequest request) {
        // std::function needs a copyable callable; the coroutine's handler is move-only.
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        // Counts as work, so the event loop cannot run dry (and be torn down at shutdown)
        // while a commit is in flight.
        auto work = asio::make_work_guard(asio::get_associated_executor(*shared));
        spool.submit(std::move(request), [shared, work](queue::CommitResult result) mutable {
          asio::post(work.get_executor(), [shared, result = std::move(result)]() mutable {
            (*shared)(std::move(result));
          });
          work.reset();
        });
      },
      asio::use_awaitable, std::move(request));
}

}  // namespace

asio::awaitable<EnqueueOutcome> SpoolEnqueuer::enqueue(smtp::Transaction txn) {
  std::string id = queue::make_queue_id();
  std::string header = smtp::received_header(txn, hostname_, id, std::time(nullptr), expose_user_);
  if (expose_user_ && !txn.auth_user.empty()) {
    // RFC 8601 §2.7.4: the result of SMTP AUTH, only when the operator chose to expose it.
    header = "Authentication-Results: " + hostname_ + "; auth=pass smtp.auth=" + txn.auth_user +
             "\r\n" + header;
  }
  // header and txn.body live in this frame until the commit completes.
  queue::CommitRequest request{id, envelope_of(txn), {header, txn.body}};
  queue::CommitResult result = co_await commit_async(spool_, std::move(request));

  if (!result.ok()) {
    spdlog::error("{}: from=<{}> nrcpt={} size={} result=failed: {}", id, txn.reverse_path,
                  txn.recipients.size(), txn.body.size(), result.what);
    // RFC 3463: X.3.1 "mail system full"; anything else is a local processing error.
    bool full = result.error == ENOSPC || result.error == EDQUOT;
    co_return EnqueueOutcome{
        "", full ? smtp::make_reply(452, "4.3.1", "Insufficient system storage")
                 : smtp::make_reply(451, "4.3.0", "Local error in processing; try again later")};
  }
  spdlog::info("{}: from=<{}> nrcpt={} size={} tls={} user={}{}{} result=queued", id,
               txn.reverse_path, txn.recipients.size(), txn.body.size(),
               txn.tls.active ? txn.tls.version : std::string("none"),
               txn.auth_user.empty() ? "-" : txn.auth_user,
               txn.envid.empty() ? "" : " envid=" + txn.envid, txn.requiretls ? " requiretls" : "");
  scheduler_.enqueue(id);
  co_return EnqueueOutcome{id, std::nullopt};
}

}  // namespace sealpost::net
