// The delivery scheduler: worker threads take queue ids from a ready FIFO, deliver the
// pending recipients, and either remove the message or park it for a retry with exponential
// backoff. Every message it is responsible for has one Entry whose state says which container
// holds it (ready_ while queued, or slots_ while parked for a destination; retries_ while
// deferred; neither while held or active).
// Per-recipient progress is in the spool: when an attempt leaves some recipients deferred, the
// finished ones (delivered, or failed and reported) are recorded, and the first attempt after a
// restart skips them. Retry times are not persisted: recovery makes everything due again (held
// messages stay held: that is in the spool too). A progress record lost in a crash means a
// repeat for those recipients (at least once, RFC 5321 §6.1); Maildir names absorb local ones.
// NOTIFY (RFC 3461 §4.1) is read here for successes and delays: who gets a report, and when;
// the failure filter is the bounce hook's (delivery/bouncer.cpp).
// With a destination limit a worker reads the message before its attempt to learn where it goes
// (remembered until the next attempt, so a message parked again costs no read), and either takes
// a slot at each destination or parks the message at a full one; the attempt that frees a slot
// wakes the oldest message parked there, which goes back into ready_ at its old place.
#include "delivery/scheduler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>

#include "queue/queue_id.hpp"

namespace sealpost::delivery {

// What one attempt came to. kFinished: every recipient delivered or failed for good, or the
// message expired: it leaves the spool. kRetry: some recipient deferred. kLost: unreadable.
struct Scheduler::Attempt {
  enum class Kind { kFinished, kRetry, kLost } kind = Kind::kFinished;
  std::vector<Deferral> deferrals;        // their rcpts are what stays pending
  bool delay_warned = false;              // the message's delay warning is done
  std::vector<std::string> destinations;  // of the deferred recipients (with a limit)
};

// A message taken by a worker: what its attempt needs, and the slots it holds.
struct Scheduler::Job {
  std::string id;
  std::vector<unsigned> pending;  // empty before the first attempt since a start
  bool delay_warned = false;
  bool loaded = false;
  std::optional<queue::StoredMessage> message;  // nullopt once loaded: unreadable
  std::vector<std::string> slots;               // held for the attempt
  std::string woken_by;                         // its claim on a slot there ended when it was taken
};

namespace {

// RFC 3461 §4.1: SUCCESS only when asked for; and a server that took the DSN parameters
// reports delivery itself (§5.2.1), so only a "relayed" to one that did not is ours to send.
bool wants_success(const queue::RecipientDsn& dsn, const Delivered& delivered) {
  return (dsn.notify & queue::kNotifySuccess) != 0 &&
         !(delivered.relayed && delivered.dsn_passed_on);
}

// RFC 3461 §4.1: DELAY when asked for; with no NOTIFY the default is FAILURE with DELAY at the
// MTA's discretion, which we take. NEVER, or FAILURE/SUCCESS without DELAY: no warning.
bool wants_delay(const queue::RecipientDsn& dsn) {
  return dsn.notify == 0 || (dsn.notify & queue::kNotifyDelay) != 0;
}

Scheduler::ControlResult from_commit(const queue::CommitResult& r) {
  if (r.ok()) return {};
  if (r.error == EINVAL) return {Scheduler::Result::kInvalid, r.what};
  if (r.error == ENOENT) return {Scheduler::Result::kNotQueued, r.what};
  return {Scheduler::Result::kFailed, r.what};
}

}  // namespace

Scheduler::DeliverFn Scheduler::each_recipient(DeliverOneFn deliver) {
  return [deliver = std::move(deliver)](const queue::StoredMessage& message,
                                        std::span<const unsigned> rcpts) {
    std::vector<Outcome> outcomes;
    outcomes.reserve(rcpts.size());
    for (unsigned i : rcpts) outcomes.push_back(deliver(message, i));
    return outcomes;
  };
}

Scheduler::Scheduler(queue::Spool& spool, DeliverFn deliver, Options options)
    : spool_(spool),
      deliver_(std::move(deliver)),
      options_(std::move(options)),
      slots_(options_.destinations && !options_.discard ? options_.destination_concurrency : 0) {}

Scheduler::~Scheduler() { stop(); }

void Scheduler::start() {
  std::lock_guard lock(mutex_);
  const unsigned workers = std::max(1u, options_.workers);
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back(&Scheduler::run, this);
}

void Scheduler::enqueue(std::string id) {
  const bool held = spool_.is_held(id);  // recovery of a message held before the restart
  {
    std::lock_guard lock(mutex_);
    // entries_ holds every id we are responsible for, so a second enqueue (recovery racing a
    // commit) cannot deliver one message twice at once.
    auto [it, inserted] = entries_.try_emplace(id);
    if (!inserted) return;
    Entry& entry = it->second;
    entry.backoff = options_.first_retry;
    entry.retry = retries_.end();
    if (held) {
      entry.state = State::kHeld;
      return;
    }
    make_ready_locked(it->first, entry);
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
  return entries_.size();
}

bool Scheduler::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [this] { return ready_.empty() && in_flight_ == 0; });
}

void Scheduler::make_ready_locked(const std::string& id, Entry& entry) {
  entry.state = State::kQueued;
  entry.retry = retries_.end();
  entry.ready_seq = next_ready_seq_++;
  ready_.emplace(entry.ready_seq, id);
}

void Scheduler::unschedule_locked(Entry& entry) {
  if (entry.state == State::kQueued && !entry.parked_at.empty()) {
    slots_.unpark(entry.parked_at, entry.ready_seq);
    entry.parked_at.clear();
  } else if (entry.state == State::kQueued) {
    ready_.erase(entry.ready_seq);
  }
  if (!entry.woken_by.empty()) {  // its claim on a slot goes to the next in line
    const std::string destination = std::exchange(entry.woken_by, {});
    slots_.drop_claim(destination);
    wake_locked(destination);
  }
  if (entry.state == State::kDeferred && entry.retry != retries_.end()) {
    retries_.erase(entry.retry);
    entry.retry = retries_.end();
  }
}

void Scheduler::wake_locked(const std::string& destination) {
  auto woken = slots_.wake(destination);
  for (auto& w : woken) {
    Entry& entry = entries_.at(w.id);  // a parked entry leaves entries_ only through unpark
    entry.parked_at.clear();
    entry.woken_by = destination;
    ready_.emplace(w.seq, std::move(w.id));
  }
  if (!woken.empty()) wake_.notify_all();
}

void Scheduler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = Clock::now();
    while (!retries_.empty() && retries_.begin()->first <= now) {
      const std::string id = retries_.begin()->second;
      retries_.erase(retries_.begin());
      make_ready_locked(id, entries_.at(id));
    }
    if (ready_.empty()) {
      if (retries_.empty()) {
        wake_.wait(lock);
      } else {
        // A copy: wait_until reads its argument after waking, and flush() or hold() may have
        // erased the node it would otherwise refer to.
        const Clock::time_point next = retries_.begin()->first;
        wake_.wait_until(lock, next);
      }
      continue;
    }
    Job job = take_locked();
    const bool admitted = !slots_.limited() || admit(job, lock);
    if (admitted) {
      lock.unlock();
      Attempt result = options_.discard ? discard(job) : attempt(job);
      lock.lock();
      for (const std::string& destination : job.slots) {
        slots_.release(destination);
        wake_locked(destination);
      }
      finish(job.id, result, lock);
    }
    --in_flight_;
    if (ready_.empty() && in_flight_ == 0) idle_.notify_all();
  }
}

Scheduler::Job Scheduler::take_locked() {
  Job job;
  job.id = std::move(ready_.begin()->second);
  ready_.erase(ready_.begin());
  Entry& entry = entries_.at(job.id);
  entry.state = State::kActive;
  job.pending = entry.pending;
  job.delay_warned = entry.delay_warned;
  if (!entry.woken_by.empty()) {
    job.woken_by = std::exchange(entry.woken_by, {});
    slots_.drop_claim(job.woken_by);
  }
  ++in_flight_;
  return job;
}

bool Scheduler::admit(Job& job, std::unique_lock<std::mutex>& lock) {
  Entry& entry = entries_.at(job.id);  // kActive: erased by no one else meanwhile
  if (!entry.destinations_known) {
    lock.unlock();
    load(job);
    std::vector<std::string> destinations;
    if (job.message && !job.pending.empty())
      destinations = destinations_of(*job.message, job.pending);
    lock.lock();
    entry.destinations = std::move(destinations);
    entry.destinations_known = true;
    if (job.message) entry.pending = job.pending;  // so a parked one is not read for that again
  }
  bool admitted = false;
  if (entry.deleted) {
    entries_.erase(job.id);
  } else if (entry.hold_after_attempt) {  // held while it was being read: no attempt at all
    entry.hold_after_attempt = false;
    entry.state = State::kHeld;
    spdlog::info("delivery: {} held: not attempted until released", job.id);
  } else if (const std::string* full = slots_.acquire(entry.destinations)) {
    // Not an attempt: no backoff, no count; ready again when an attempt there ends.
    entry.state = State::kQueued;
    entry.parked_at = *full;
    slots_.park(*full, entry.ready_seq, job.id);
    spdlog::debug("delivery: {} waits for a slot to {}", job.id, *full);
  } else {
    job.slots = entry.destinations;
    admitted = true;
  }
  // A claim it did not use (parked elsewhere, held, deleted) goes to the next in line.
  if (!job.woken_by.empty()) wake_locked(job.woken_by);
  return admitted;
}

void Scheduler::load(Job& job) const {
  job.loaded = true;
  job.message = spool_.load(job.id);
  if (!job.message) return;
  const auto& recipients = job.message->envelope.recipients;
  if (job.pending.empty()) {  // the first attempt since the daemon started
    const std::vector<std::uint32_t> finished = spool_.finished_recipients(job.id);
    for (unsigned i = 0; i < recipients.size(); ++i) {
      if (!std::ranges::binary_search(finished, i)) job.pending.push_back(i);
    }
    if (std::ranges::binary_search(finished, queue::Spool::kDelayWarningIndex))
      job.delay_warned = true;
    if (job.pending.size() < recipients.size()) {
      spdlog::info("delivery: {} {} of {} recipient(s) finished before the restart, not retried",
                   job.id, recipients.size() - job.pending.size(), recipients.size());
    }
  }
}

std::vector<std::string> Scheduler::destinations_of(const queue::StoredMessage& message,
                                                    std::span<const unsigned> rcpts) const {
  std::vector<std::string> destinations;
  try {
    destinations = options_.destinations(message, rcpts);
  } catch (const std::exception& e) {
    // Like a deliverer's bug: it is then attempted without a slot rather than never.
    spdlog::error("delivery: {} destinations threw: {}", message.id, e.what());
  }
  // Sorted and unique: acquire() takes one slot per name, always in the same order.
  std::ranges::sort(destinations);
  destinations.erase(std::unique(destinations.begin(), destinations.end()), destinations.end());
  return destinations;
}

Scheduler::Attempt Scheduler::discard(const Job& job) const {
  // Not even read: the profile of a discarding daemon had Spool::load at 7.5 % of its CPU.
  spdlog::info("delivery: {} discarded ([queue] discard)", job.id);
  return Attempt{};  // finished: removed from the spool
}

Scheduler::Attempt Scheduler::attempt(Job& job) {
  const std::string& id = job.id;
  Attempt result;
  if (!job.loaded) load(job);
  result.delay_warned = job.delay_warned;  // load() may have read it from the spool
  if (!job.message) {
    // load() logged why (or it was deleted meanwhile); a corrupt record is never delivered.
    spdlog::error("delivery: {} cannot be loaded, not delivering it", id);
    result.kind = Attempt::Kind::kLost;
    return result;
  }
  const queue::StoredMessage* message = &*job.message;
  const auto& recipients = message->envelope.recipients;
  const std::vector<unsigned>& pending = job.pending;
  if (pending.empty()) return result;  // only its done record was lost: finished

  std::vector<Outcome> outcomes;
  try {
    outcomes = deliver_(*message, pending);
  } catch (const std::exception& e) {
    // A bug in a delivery agent must not kill the worker; the message stays queued.
    spdlog::error("delivery: {} threw: {}", id, e.what());
  }
  if (outcomes.size() != pending.size()) {
    if (!outcomes.empty()) spdlog::error("delivery: {} got the wrong number of outcomes", id);
    outcomes.assign(pending.size(), TempFail{"451 4.3.0 internal error"});
  }

  std::vector<Failure> failures;
  std::vector<Success> successes;
  for (std::size_t k = 0; k < pending.size(); ++k) {
    const unsigned i = pending[k];
    std::visit(
        [&](auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Delivered>) {
            spdlog::info("delivery: {} to=<{}> {}", id, recipients[i],
                         o.relayed ? "delivered (relayed)" : "delivered");
            if (wants_success(message->envelope.dsn_for(i), o))
              successes.push_back(Success{i, std::move(o)});
          } else if constexpr (std::is_same_v<T, TempFail>) {
            spdlog::warn("delivery: {} to=<{}> deferred: {}", id, recipients[i], o.reply);
            result.deferrals.push_back(Deferral{i, std::move(o.reply)});
          } else {
            spdlog::error("delivery: {} to=<{}> failed: {}", id, recipients[i], o.reply);
            failures.push_back(Failure{i, std::move(o.reply), false});
          }
        },
        outcomes[k]);
  }

  bool warned_now = false;
  if (!result.deferrals.empty()) {
    const auto arrival_micros = queue::queue_id_micros(id).value_or(0);
    const auto age = std::chrono::system_clock::now().time_since_epoch() -
                     std::chrono::microseconds(arrival_micros);
    if (age > options_.lifetime) {
      spdlog::error("delivery: {} expired after {}h with {} recipient(s) deferred", id,
                    std::chrono::duration_cast<std::chrono::hours>(age).count(),
                    result.deferrals.size());
      for (auto& d : result.deferrals)
        failures.push_back(Failure{d.rcpt, std::move(d.reply), true});
      result.deferrals.clear();
    } else if (!result.delay_warned && options_.delay_warning.count() > 0 &&
               age > options_.delay_warning) {
      // Before report() adds the failures it could not queue: those are not delays.
      result.delay_warned = warned_now = warn_delay(*message, result.deferrals);
    }
  }
  if (!successes.empty()) report_success(*message, successes);
  if (!failures.empty() && !report(*message, failures, result)) {
    std::ranges::sort(result.deferrals, {}, &Deferral::rcpt);
  }
  result.kind = result.deferrals.empty() ? Attempt::Kind::kFinished : Attempt::Kind::kRetry;
  if (result.kind == Attempt::Kind::kRetry) {
    record_finished(id, pending, result.deferrals, warned_now);
    if (slots_.limited()) {
      std::vector<unsigned> deferred;
      for (const auto& d : result.deferrals) deferred.push_back(d.rcpt);
      result.destinations = destinations_of(*message, deferred);
    }
  }
  return result;
}

void Scheduler::record_finished(const std::string& id, std::span<const unsigned> attempted,
                                std::span<const Deferral> deferred, bool delay_warned_now) {
  std::vector<std::uint32_t> finished;
  for (const unsigned i : attempted) {
    if (std::ranges::none_of(deferred, [i](const Deferral& d) { return d.rcpt == i; })) {
      finished.push_back(i);
    }
  }
  if (delay_warned_now) finished.push_back(queue::Spool::kDelayWarningIndex);
  if (finished.empty()) return;
  // Not fatal if it fails (deleted meanwhile): a restart would only try them again.
  if (int error = spool_.finish_recipients(id, std::move(finished));
      error != 0 && error != ENOENT) {
    spdlog::warn("delivery: {} progress not recorded: {}", id,
                 ::strerrordesc_np(error) ? ::strerrordesc_np(error) : "unknown error");
  }
}

bool Scheduler::report(const queue::StoredMessage& message, std::vector<Failure>& failures,
                       Attempt& result) {
  if (!options_.bounce) return true;
  bool queued = false;
  try {
    queued = options_.bounce(message, failures);
  } catch (const std::exception& e) {
    spdlog::error("delivery: {} bounce threw: {}", message.id, e.what());
  }
  if (queued) return true;
  // Kept pending, so the failure is reported at the next attempt instead of being lost.
  for (auto& f : failures) {
    result.deferrals.push_back(
        Deferral{f.rcpt, "451 4.3.0 failed (" + f.reply + ") but the report could not be queued"});
  }
  return false;
}

void Scheduler::report_success(const queue::StoredMessage& message,
                               std::span<const Success> successes) {
  if (!options_.report_success) return;
  bool queued = false;
  try {
    queued = options_.report_success(message, successes);
  } catch (const std::exception& e) {
    spdlog::error("delivery: {} success report threw: {}", message.id, e.what());
  }
  // Delivered stays delivered: a second delivery to get a report through would be worse.
  if (!queued)
    spdlog::error("delivery: {} success report for {} recipient(s) lost: it could not be queued",
                  message.id, successes.size());
}

bool Scheduler::warn_delay(const queue::StoredMessage& message,
                           std::span<const Deferral> deferrals) {
  std::vector<Deferral> owed;
  for (const Deferral& d : deferrals) {
    if (wants_delay(message.envelope.dsn_for(d.rcpt))) owed.push_back(d);
  }
  // The deferred set only shrinks, so nobody here wanting one means nobody ever will.
  if (owed.empty() || !options_.warn_delay) return true;
  const auto arrival = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(queue::queue_id_micros(message.id).value_or(0))));
  bool queued = false;
  try {
    queued = options_.warn_delay(message, owed, arrival + options_.lifetime);
  } catch (const std::exception& e) {
    spdlog::error("delivery: {} delay warning threw: {}", message.id, e.what());
  }
  if (!queued)
    spdlog::warn("delivery: {} delay warning not queued: tried again next time", message.id);
  return queued;
}

void Scheduler::finish(const std::string& id, Attempt& result, std::unique_lock<std::mutex>& lock) {
  Entry& entry = entries_.at(id);  // an active entry is only ever erased here and in admit()
  entry.delay_warned = entry.delay_warned || result.delay_warned;
  if (result.kind == Attempt::Kind::kRetry && !entry.deleted) {
    ++entry.attempts;
    entry.pending.clear();
    for (const auto& d : result.deferrals) entry.pending.push_back(d.rcpt);
    entry.deferrals = std::move(result.deferrals);
    entry.destinations = std::move(result.destinations);
    entry.destinations_known = slots_.limited();
    entry.due = Clock::now() + entry.backoff;
    if (entry.hold_after_attempt) {
      entry.hold_after_attempt = false;
      entry.state = State::kHeld;
      spdlog::info("delivery: {} held: not retried until released", id);
    } else {
      entry.state = State::kDeferred;
      entry.retry = retries_.emplace(entry.due, id);
      spdlog::info("delivery: {} retry in {}s", id, entry.backoff.count());
      wake_.notify_all();  // a sleeping worker may be waiting for a later retry
    }
    entry.backoff = std::min(entry.backoff * 2, options_.max_retry);
    return;
  }
  if (result.kind == Attempt::Kind::kFinished && !entry.deleted) {
    lock.unlock();
    if (int error = spool_.remove(id)) {
      spdlog::error("delivery: {} is done but cannot be removed from spool: {}", id,
                    ::strerrordesc_np(error) ? ::strerrordesc_np(error) : "unknown error");
    } else {
      spdlog::info("delivery: {} removed from spool", id);
    }
    lock.lock();
  }
  entries_.erase(id);
}

std::vector<queue::CommitResult> Scheduler::record(queue::Spool::Control action,
                                                   std::span<const std::string> ids) {
  std::vector<std::future<queue::CommitResult>> futures;
  futures.reserve(ids.size());
  for (const auto& id : ids) {
    auto promise = std::make_shared<std::promise<queue::CommitResult>>();
    futures.push_back(promise->get_future());
    spool_.control(action, id,
                   [promise](queue::CommitResult r) { promise->set_value(std::move(r)); });
  }
  std::vector<queue::CommitResult> results;
  results.reserve(ids.size());
  for (auto& future : futures) results.push_back(future.get());
  return results;
}

std::vector<Scheduler::ControlResult> Scheduler::hold(std::span<const std::string> ids) {
  // Unscheduled before the record is written, so no attempt starts while it is being synced;
  // put back if the spool cannot record the hold.
  enum class Was { kUnknown, kHeld, kActive, kScheduled };
  std::vector<Was> was(ids.size(), Was::kUnknown);
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      auto it = entries_.find(ids[i]);
      if (it == entries_.end()) continue;  // not enqueued yet: enqueue() reads the spool
      Entry& entry = it->second;
      if (entry.state == State::kHeld || entry.hold_after_attempt) {
        was[i] = Was::kHeld;
      } else if (entry.state == State::kActive) {
        was[i] = Was::kActive;
        entry.hold_after_attempt = true;
      } else {
        was[i] = Was::kScheduled;
        unschedule_locked(entry);
        entry.state = State::kHeld;
      }
    }
  }
  const auto records = record(queue::Spool::Control::kHold, ids);
  std::vector<ControlResult> results;
  results.reserve(ids.size());
  bool requeued = false;
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      results.push_back(from_commit(records[i]));
      if (records[i].ok()) {
        if (was[i] == Was::kHeld) results.back().result = Result::kUnchanged;
        continue;
      }
      auto it = entries_.find(ids[i]);
      if (it == entries_.end()) continue;
      Entry& entry = it->second;
      if (was[i] == Was::kActive) entry.hold_after_attempt = false;
      // Held in memory meanwhile (scheduled, or its attempt ended or never began): undone.
      if ((was[i] == Was::kScheduled || was[i] == Was::kActive) && entry.state == State::kHeld) {
        requeue_locked(it->first, entry);
        requeued = true;
      }
    }
  }
  if (requeued) wake_.notify_all();
  return results;
}

void Scheduler::requeue_locked(const std::string& id, Entry& entry) {
  if (entry.attempts > 0 && entry.due > Clock::now()) {
    entry.state = State::kDeferred;
    entry.retry = retries_.emplace(entry.due, id);
  } else {
    make_ready_locked(id, entry);
  }
}

std::vector<Scheduler::ControlResult> Scheduler::release(std::span<const std::string> ids) {
  // Recorded first: once released in memory it may be delivered at once.
  const auto records = record(queue::Spool::Control::kRelease, ids);
  std::vector<ControlResult> results;
  results.reserve(ids.size());
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      results.push_back(from_commit(records[i]));
      if (!records[i].ok()) continue;
      auto it = entries_.find(ids[i]);
      if (it == entries_.end()) continue;
      Entry& entry = it->second;
      if (entry.hold_after_attempt) {
        entry.hold_after_attempt = false;
      } else if (entry.state == State::kHeld) {
        requeue_locked(it->first, entry);
      } else {
        results.back().result = Result::kUnchanged;
      }
    }
  }
  wake_.notify_all();
  return results;
}

std::vector<Scheduler::ControlResult> Scheduler::delete_messages(std::span<const std::string> ids) {
  {
    // Forgotten first, so no attempt starts on a message about to vanish from the spool.
    std::lock_guard lock(mutex_);
    for (const auto& id : ids) {
      auto it = entries_.find(id);
      if (it == entries_.end()) continue;
      if (it->second.state == State::kActive) {
        it->second.deleted = true;  // finish() forgets it
      } else {
        unschedule_locked(it->second);
        entries_.erase(it);
      }
    }
  }
  const auto records = record(queue::Spool::Control::kDelete, ids);
  std::vector<ControlResult> results;
  results.reserve(ids.size());
  for (const auto& r : records) results.push_back(from_commit(r));
  return results;
}

std::vector<Scheduler::ControlResult> Scheduler::flush(std::span<const std::string> ids) {
  std::vector<ControlResult> results;
  results.reserve(ids.size());
  {
    std::lock_guard lock(mutex_);
    for (const auto& id : ids) {
      auto it = entries_.find(id);
      if (it == entries_.end()) {
        results.push_back({queue::is_valid_queue_id(id) ? Result::kNotQueued : Result::kInvalid,
                           id + ": not queued"});
        continue;
      }
      Entry& entry = it->second;
      if (entry.state == State::kHeld || entry.hold_after_attempt) {
        results.push_back({Result::kHeld, id + ": held"});
      } else if (entry.state == State::kDeferred) {
        unschedule_locked(entry);
        entry.due = Clock::now();
        make_ready_locked(it->first, entry);
        results.push_back({});
      } else {
        results.push_back({Result::kUnchanged, {}});
      }
    }
  }
  wake_.notify_all();
  return results;
}

std::size_t Scheduler::flush() {
  std::size_t count = 0;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    while (!retries_.empty()) {  // in due order
      const std::string id = retries_.begin()->second;
      retries_.erase(retries_.begin());
      Entry& entry = entries_.at(id);
      entry.due = now;
      make_ready_locked(id, entry);
      ++count;
    }
  }
  wake_.notify_all();
  return count;
}

Scheduler::Status Scheduler::status_locked(const Entry& entry, Clock::time_point now,
                                           std::chrono::system_clock::time_point system_now) const {
  Status status{entry.state, entry.attempts, std::nullopt, entry.deferrals, entry.parked_at};
  if (entry.state == State::kDeferred) {
    status.next_attempt =
        system_now + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         std::max(entry.due, now) - now);
  }
  return status;
}

std::optional<Scheduler::Status> Scheduler::status(const std::string& id) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return status_locked(it->second, Clock::now(), std::chrono::system_clock::now());
}

std::vector<std::pair<std::string, Scheduler::Status>> Scheduler::statuses() const {
  std::vector<std::pair<std::string, Status>> out;
  std::lock_guard lock(mutex_);
  const auto now = Clock::now();
  const auto system_now = std::chrono::system_clock::now();
  out.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) {
    out.emplace_back(id, status_locked(entry, now, system_now));
  }
  return out;
}

}  // namespace sealpost::delivery
