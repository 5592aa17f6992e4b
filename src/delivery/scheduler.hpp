// Moves committed messages from the spool to their destinations on worker threads. Each
// attempt hands the deliverer every recipient still pending (so it can group them per
// destination); a Delivered or PermFailed recipient is never attempted again, and PermFailed
// ones (and TempFailed ones past the lifetime) are reported to the sender through the bounce
// hook before the message leaves the spool. TempFail is retried with exponential backoff.
// It also decides which other DSNs (RFC 3461 §4.1 NOTIFY) are owed: a success report for the
// recipients delivered at an attempt that asked for SUCCESS, and one delay warning per message
// once it has waited longer than delay_warning, both through their own hooks.
// Queue control: hold (never attempted until released), release, delete and flush (deferred
// messages due now); hold and delete are recorded durably in the spool first.
// Per-destination concurrency: given a destinations hook, an attempt holds one slot at each
// destination of its pending recipients; a message whose destination is at the limit waits,
// still queued, without an attempt, until an attempt there ends (DestinationSlots).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "delivery/destination_slots.hpp"
#include "delivery/outcome.hpp"
#include "queue/spool.hpp"

namespace sealpost::delivery {

class Scheduler {
 public:
  // Delivers the given recipients (indexes into envelope.recipients, ascending) of a stored
  // message; returns one outcome per index, in the same order.
  using DeliverFn = std::function<std::vector<Outcome>(const queue::StoredMessage&,
                                                       std::span<const unsigned> rcpts)>;
  // A recipient that will not be delivered: PermFail, or still TempFail when the message
  // outlived the lifetime (expired).
  struct Failure {
    unsigned rcpt = 0;
    std::string reply;
    bool expired = false;
  };
  // Reports failures to the envelope sender (a DSN). False when the report could not be
  // queued durably: those recipients then stay pending and are tried again at the next retry,
  // so no failure goes unreported because a disk was full.
  using BounceFn =
      std::function<bool(const queue::StoredMessage&, std::span<const Failure> failures)>;
  // A recipient delivered (to its mailbox, or handed to a server that does not report
  // delivery itself) that asked for NOTIFY=SUCCESS.
  struct Success {
    unsigned rcpt = 0;
    Delivered delivered;
  };
  // Reports successes (one call per message and attempt). False when the report could not be
  // queued: logged, but the recipients stay delivered (delivering again is worse).
  using SuccessFn =
      std::function<bool(const queue::StoredMessage&, std::span<const Success> successes)>;
  // A recipient left for a later attempt, and why.
  struct Deferral {
    unsigned rcpt = 0;  // index into envelope.recipients
    std::string reply;  // "451 4.4.1 connection to mx.example.com refused"
  };
  // Warns that recipients are still deferred and will be retried until `retry_until` (arrival
  // plus the lifetime). False when it could not be queued: tried again at the next attempt.
  using DelayFn = std::function<bool(const queue::StoredMessage&, std::span<const Deferral>,
                                     std::chrono::system_clock::time_point retry_until)>;
  // Names where the given recipients of a message go, one concurrency slot each: the
  // lower-case domains of remote recipients, say, and none for local ones. Repeats are fine.
  using DestinationsFn = std::function<std::vector<std::string>(const queue::StoredMessage&,
                                                                std::span<const unsigned> rcpts)>;

  struct Options {
    unsigned workers = 1;
    std::chrono::seconds first_retry{60};
    std::chrono::seconds max_retry{3600};
    std::chrono::seconds lifetime{5 * 24 * 3600};
    // How long after arrival a message still deferred gets its one delay warning; 0: never.
    std::chrono::seconds delay_warning{0};
    BounceFn bounce;           // empty: failures are only logged
    SuccessFn report_success;  // empty: no success reports
    DelayFn warn_delay;        // empty: no delay warnings
    // Attempts at once per destination (Postfix's default_destination_concurrency_limit is
    // also 20); 0, or no destinations hook: no limit, and nothing is read before an attempt.
    unsigned destination_concurrency = 20;
    DestinationsFn destinations;
    // [queue] discard (benchmarks): every message is dropped unread, and the deliverer and the
    // hooks are never called; logged per message.
    bool discard = false;
  };

  // Where a message stands. kQueued: due now, waiting for a worker (or for a slot at a
  // destination); kDeferred: a recipient got TempFail, next attempt at a set time; kHeld: by the
  // administrator; kActive: taken by a worker, being attempted.
  enum class State { kQueued, kDeferred, kHeld, kActive };
  struct Status {
    State state = State::kQueued;
    unsigned attempts = 0;  // finished attempts that deferred it
    std::optional<std::chrono::system_clock::time_point> next_attempt;  // kDeferred only
    std::vector<Deferral> deferrals;  // recipients deferred at the last attempt, in order
    std::string waiting_for;          // kQueued: the destination whose slot it waits for, if any
  };

  // The outcome of one queue-control action on one message.
  enum class Result {
    kDone,       // held / released / deleted / made due now
    kUnchanged,  // already held; not held (release); not deferred (flush)
    kHeld,       // flush of a held message: it stays held
    kNotQueued,  // no such message in the spool
    kInvalid,    // not a queue id
    kFailed,     // the spool could not record it: `what` says why
  };
  struct ControlResult {
    Result result = Result::kDone;
    std::string what;
  };

  // Adapts a deliverer that takes one recipient at a time (local agents, tests).
  using DeliverOneFn = std::function<Outcome(const queue::StoredMessage&, unsigned rcpt)>;
  static DeliverFn each_recipient(DeliverOneFn deliver);

  Scheduler(queue::Spool& spool, DeliverFn deliver, Options options);
  ~Scheduler();  // stop()s

  void start();                  // starts the worker threads
  void enqueue(std::string id);  // thread-safe; called after a commit or by recovery
  void stop();                   // finishes in-flight deliveries, then joins
  std::size_t pending() const;   // every message it is responsible for, held ones included
  // Blocks until nothing is queued or in flight (retries and held excluded) or the timeout.
  bool wait_idle(std::chrono::milliseconds timeout);

  // Queue control, for many ids at once: the spool records of one call share an fdatasync.
  // A message held while an attempt runs is held when the attempt defers it; one deleted while
  // an attempt runs is forgotten when it ends (recipients delivered meanwhile stay delivered).
  std::vector<ControlResult> hold(std::span<const std::string> ids);
  // Back to where it was: due at its old next-attempt time if that is still ahead, else now.
  std::vector<ControlResult> release(std::span<const std::string> ids);
  std::vector<ControlResult> delete_messages(std::span<const std::string> ids);
  std::vector<ControlResult> flush(std::span<const std::string> ids);
  std::size_t flush();  // every deferred message due now; returns how many

  std::optional<Status> status(const std::string& id) const;
  // Every message the scheduler knows, sorted by id (which is arrival order).
  std::vector<std::pair<std::string, Status>> statuses() const;

 private:
  using Clock = std::chrono::steady_clock;
  using Retries = std::multimap<Clock::time_point, std::string>;
  struct Entry {
    State state = State::kQueued;
    unsigned attempts = 0;
    std::chrono::seconds backoff{0};
    std::uint64_t ready_seq = 0;  // key in ready_ while kQueued
    Retries::iterator retry;      // in retries_ while kDeferred
    Clock::time_point due{};      // of the next attempt, once deferred
    std::vector<Deferral> deferrals;
    std::vector<unsigned> pending;    // recipients still to deliver; empty before the first try
    bool hold_after_attempt = false;  // held while kActive
    bool deleted = false;             // deleted while kActive
    // Its delay warning is done (sent, or nobody wanted one); recorded in the spool too
    // (Spool::kDelayWarningIndex), read back by the first attempt after a restart.
    bool delay_warned = false;
    // With a destination limit: the destinations of `pending`, once a worker has read them.
    std::vector<std::string> destinations;
    bool destinations_known = false;
    std::string parked_at;  // kQueued, not in ready_: waits in slots_ for a slot there
    std::string woken_by;   // kQueued in ready_ with a claim on a slot freed there
  };
  struct Attempt;
  struct Job;

  void run();
  Job take_locked();
  // With a destination limit: takes the job's slots, or parks it (or it was held or deleted
  // while its message was read). True when it is to be attempted now.
  bool admit(Job& job, std::unique_lock<std::mutex>& lock);
  // Reads the message and, on its first attempt since a start, which recipients are pending.
  void load(Job& job) const;
  Attempt discard(const Job& job) const;
  std::vector<std::string> destinations_of(const queue::StoredMessage& message,
                                           std::span<const unsigned> rcpts) const;
  Attempt attempt(Job& job);
  bool report(const queue::StoredMessage& message, std::vector<Failure>& failures, Attempt& result);
  void report_success(const queue::StoredMessage& message, std::span<const Success> successes);
  // True once the warning is done: sent, or owed to no recipient.
  bool warn_delay(const queue::StoredMessage& message, std::span<const Deferral> deferrals);
  // Spool record of the attempted recipients not deferred, so a restart skips them, and of a
  // delay warning done in this attempt, so a restart does not send it again.
  void record_finished(const std::string& id, std::span<const unsigned> attempted,
                       std::span<const Deferral> deferred, bool delay_warned_now);
  void finish(const std::string& id, Attempt& result, std::unique_lock<std::mutex>& lock);
  void make_ready_locked(const std::string& id, Entry& entry);
  // Makes the messages parked at `destination` that now have a slot ready.
  void wake_locked(const std::string& destination);
  void unschedule_locked(Entry& entry);
  void requeue_locked(const std::string& id, Entry& entry);
  Status status_locked(const Entry& entry, Clock::time_point now,
                       std::chrono::system_clock::time_point system_now) const;
  // Runs the spool side of one control action for every id, waiting for all records together.
  std::vector<queue::CommitResult> record(queue::Spool::Control action,
                                          std::span<const std::string> ids);

  queue::Spool& spool_;
  DeliverFn deliver_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::map<std::string, Entry> entries_;        // every id we are responsible for
  std::map<std::uint64_t, std::string> ready_;  // kQueued ids by seq: FIFO, a woken one first
  std::uint64_t next_ready_seq_ = 0;
  Retries retries_;         // kDeferred ids by due time
  unsigned in_flight_ = 0;  // taken by a worker
  DestinationSlots slots_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sealpost::delivery
