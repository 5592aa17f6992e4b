// The delivery scheduler: worker threads take queue ids from a ready deque, deliver each
// recipient, and either remove the message or park it for a retry with exponential backoff.
// Leaves out bounces (DSNs arrive with remote delivery) and persistence of retry times: after
// a restart, recovery simply enqueues everything again and Maildir idempotency absorbs it.
#include "delivery/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <type_traits>

#include "queue/queue_id.hpp"

namespace sealpost::delivery {

Scheduler::Scheduler(queue::Spool& spool, DeliverFn deliver, Options options)
    : spool_(spool), deliver_(std::move(deliver)), options_(options) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  std::lock_guard lock(mutex_);
  const unsigned workers = std::max(1u, options_.workers);
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back(&Scheduler::run, this);
}

void Scheduler::enqueue(std::string id) {
  {
    std::lock_guard lock(mutex_);
    // backoff_ holds every id we are responsible for (ready, in flight or waiting), so a
    // second enqueue (recovery racing a commit) cannot deliver one message twice at once.
    if (!backoff_.emplace(id, options_.first_retry).second) return;
    ready_.push_back(std::move(id));
  }
  wake_.notify_one();
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  idle_.notify_all();
}

std::size_t Scheduler::pending() const {
  std::lock_guard lock(mutex_);
  // In-flight messages are still in the spool, so they count as pending.
  return ready_.size() + retries_.size() + in_flight_;
}

bool Scheduler::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return ready_.empty() && in_flight_ == 0; });
}

void Scheduler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = std::chrono::steady_clock::now();
    while (!retries_.empty() && retries_.begin()->first <= now) {
      ready_.push_back(std::move(retries_.begin()->second));
      retries_.erase(retries_.begin());
    }
    if (ready_.empty()) {
      if (retries_.empty()) {
        wake_.wait(lock);
      } else {
        wake_.wait_until(lock, retries_.begin()->first);
      }
      continue;
    }
    std::string id = std::move(ready_.front());
    ready_.pop_front();
    ++in_flight_;
    lock.unlock();
    attempt(id);
    lock.lock();
    --in_flight_;
    if (ready_.empty() && in_flight_ == 0) idle_.notify_all();
  }
}

void Scheduler::attempt(const std::string& id) {
  auto forget = [this, &id] {
    std::lock_guard lock(mutex_);
    backoff_.erase(id);
  };
  const auto message = spool_.load(id);
  if (!message) {
    // load() logged why; a corrupt file is quarantined by the next recover().
    spdlog::error("delivery: {} cannot be loaded, not delivering it", id);
    forget();
    return;
  }

  bool retry = false;
  const auto& recipients = message->envelope.recipients;
  for (unsigned i = 0; i < recipients.size(); ++i) {
    Outcome outcome;
    try {
      outcome = deliver_(*message, i);
    } catch (const std::exception& e) {
      // A bug in a delivery agent must not kill the worker; the message stays queued.
      spdlog::error("delivery: {} to=<{}> threw: {}", id, recipients[i], e.what());
      outcome = TempFail{"451 4.3.0 internal error"};
    }
    std::visit(
        [&](const auto& result) {
          using T = std::decay_t<decltype(result)>;
          if constexpr (std::is_same_v<T, Delivered>) {
            spdlog::info("delivery: {} to=<{}> delivered", id, recipients[i]);
          } else if constexpr (std::is_same_v<T, TempFail>) {
            spdlog::warn("delivery: {} to=<{}> deferred: {}", id, recipients[i], result.reply);
            retry = true;
          } else {
            spdlog::error("delivery: {} to=<{}> failed: {}", id, recipients[i], result.reply);
          }
        },
        outcome);
  }

  if (retry) {
    const auto arrival_micros = queue::queue_id_micros(id).value_or(0);
    const auto age = std::chrono::system_clock::now().time_since_epoch() -
                     std::chrono::microseconds(arrival_micros);
    if (age <= options_.lifetime) {
      std::lock_guard lock(mutex_);
      auto& backoff = backoff_[id];
      retries_.emplace(std::chrono::steady_clock::now() + backoff, id);
      spdlog::info("delivery: {} retry in {}s", id, backoff.count());
      backoff = std::min(backoff * 2, options_.max_retry);
      wake_.notify_all();  // a sleeping worker may be waiting for a later retry
      return;
    }
    spdlog::error("delivery: {} expired after {}h with recipients deferred, dropping it", id,
                  std::chrono::duration_cast<std::chrono::hours>(age).count());
  }

  if (int error = spool_.remove(id)) {
    spdlog::error("delivery: {} is done but cannot be removed from spool: {}", id,
                  ::strerrordesc_np(error) ? ::strerrordesc_np(error) : "unknown error");
  } else {
    spdlog::info("delivery: {} removed from spool", id);
  }
  forget();
}

}  // namespace sealpost::delivery
