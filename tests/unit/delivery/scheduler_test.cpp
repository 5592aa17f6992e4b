// Scheduler: delivery and removal, TempFail retried until it succeeds (with Maildir skipping
// the recipients already delivered), PermFail and expiry remove, and stop() joins promptly.
// Queue control: hold (even through flush), release, flush, delete, statuses, restarts.
#include "delivery/scheduler.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <span>
#include <thread>

#include "delivery/maildir.hpp"
#include "queue/queue_id.hpp"
#include "scheduler_support.hpp"
#include "test_support.hpp"

namespace sealpost::delivery {
namespace {

using namespace std::chrono_literals;
using sealpost::testing::commit;
using sealpost::testing::drained;
using sealpost::testing::fast_options;
using sealpost::testing::list_dir;
using sealpost::testing::QuietLogs;
using sealpost::testing::reaches;
using sealpost::testing::read_file;
using sealpost::testing::ScriptedDelivery;
using sealpost::testing::TempDir;

TEST(Scheduler, DeliversToMaildirsAndRemoves) {
  TempDir temp;
  queue::Spool spool(temp.path() / "spool");
  const auto mail = temp.path() / "mail";
  Scheduler scheduler(
      spool, Scheduler::each_recipient([&](const queue::StoredMessage& message, unsigned rcpt) {
        return Maildir(mail / message.envelope.recipients[rcpt])
            .deliver(message.id, rcpt, message.content);
      }),
      fast_options(2));
  scheduler.start();
  const std::string id = commit(spool, {"alice@example.org", "bob@example.org"}, "exact\r\n");
  scheduler.enqueue(id);
  ASSERT_TRUE(scheduler.wait_idle(10s));
  ASSERT_TRUE(drained(scheduler));

  EXPECT_TRUE(spool.queued_ids().empty());
  EXPECT_EQ(read_file(mail / "alice@example.org" / "new" / Maildir::file_name(id, 0)), "exact\r\n");
  EXPECT_EQ(read_file(mail / "bob@example.org" / "new" / Maildir::file_name(id, 1)), "exact\r\n");
}

TEST(Scheduler, TempFailIsRetriedUntilDelivered) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery(
      {{0, {Delivered{}}},
       {1, {TempFail{"451 4.3.0 busy"}, TempFail{"451 4.3.0 busy"}, Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options());
  scheduler.start();
  scheduler.enqueue(commit(spool, {"a@example.org", "b@example.org"}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(1), 3u);
  // Only the deferred recipient is retried: the delivered one is never attempted again.
  EXPECT_EQ(delivery.calls(0), 1u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, RetryWithRealMaildirDeliversEachRecipientOnce) {
  TempDir temp;
  queue::Spool spool(temp.path() / "spool");
  const auto mail = temp.path() / "mail";
  std::atomic<int> failures_left = 2;
  Scheduler scheduler(
      spool,
      Scheduler::each_recipient([&](const queue::StoredMessage& message, unsigned rcpt) -> Outcome {
        if (rcpt == 1 && failures_left-- > 0) return TempFail{"452 4.2.2 mailbox full"};
        return Maildir(mail / std::to_string(rcpt)).deliver(message.id, rcpt, message.content);
      }),
      fast_options());
  scheduler.start();
  scheduler.enqueue(commit(spool, {"a@example.org", "b@example.org"}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(list_dir(mail / "0" / "new").size(), 1u);
  EXPECT_EQ(list_dir(mail / "1" / "new").size(), 1u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, WaitingRetryKeepsMessageInSpool) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {TempFail{"451 4.3.0 later"}}}});
  Scheduler::Options options = fast_options();
  options.first_retry = 3600s;
  options.max_retry = 3600s;
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  const std::string id = commit(spool, {"a@example.org"});
  scheduler.enqueue(id);
  ASSERT_TRUE(scheduler.wait_idle(10s));
  EXPECT_EQ(delivery.calls(0), 1u);
  EXPECT_EQ(scheduler.pending(), 1u);
  EXPECT_EQ(spool.queued_ids(), std::vector<std::string>{id});

  // stop() must not wait for an hour-long retry timer.
  const auto before = std::chrono::steady_clock::now();
  scheduler.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
}

TEST(Scheduler, PermFailRemovesTheMessage) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {PermFail{"550 5.1.1 no such mailbox"}}}, {1, {Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options());
  scheduler.start();
  scheduler.enqueue(commit(spool, {"gone@example.org", "b@example.org"}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 1u);
  EXPECT_EQ(delivery.calls(1), 1u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, ExpiredMessageIsDropped) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {TempFail{"451 4.3.0 forever"}}}});
  Scheduler::Options options = fast_options();
  options.lifetime = 0s;
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  const std::string id = commit(spool, {"a@example.org"});
  std::this_thread::sleep_for(2ms);  // make sure the message is older than the lifetime
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 1u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

// Collects what the scheduler asks to bounce; can refuse (a full disk) a number of times.
class RecordingBounce {
 public:
  explicit RecordingBounce(int refusals = 0) : refusals_(refusals) {}
  Scheduler::BounceFn fn() {
    return
        [this](const queue::StoredMessage& message, std::span<const Scheduler::Failure> failures) {
          std::lock_guard lock(mutex_);
          ++calls_;
          if (refusals_ > 0) {
            --refusals_;
            return false;
          }
          for (const auto& f : failures)
            reported_.push_back({message.envelope.recipients[f.rcpt], f.reply, f.expired});
          return true;
        };
  }
  struct Report {
    std::string rcpt;
    std::string reply;
    bool expired;
  };
  std::vector<Report> reported() {
    std::lock_guard lock(mutex_);
    return reported_;
  }
  int calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  int refusals_;
  int calls_ = 0;
  std::vector<Report> reported_;
};

TEST(Scheduler, PermFailIsBouncedOnceAndNeverRetried) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {PermFail{"550 5.1.1 no such mailbox"}}},
                             {1, {TempFail{"451 4.3.0 busy"}, Delivered{}}}});
  RecordingBounce bounce;
  Scheduler::Options options = fast_options();
  options.bounce = bounce.fn();
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  scheduler.enqueue(commit(spool, {"gone@example.org", "b@example.org"}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 1u);  // not retried with the deferred recipient
  EXPECT_EQ(delivery.calls(1), 2u);
  ASSERT_EQ(bounce.reported().size(), 1u);
  EXPECT_EQ(bounce.reported()[0].rcpt, "gone@example.org");
  EXPECT_EQ(bounce.reported()[0].reply, "550 5.1.1 no such mailbox");
  EXPECT_FALSE(bounce.reported()[0].expired);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, BounceThatCannotBeQueuedKeepsTheMessage) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {PermFail{"550 5.1.1 no such mailbox"}}}});
  RecordingBounce bounce(/*refusals=*/2);
  Scheduler::Options options = fast_options();
  options.bounce = bounce.fn();
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  const std::string id = commit(spool, {"gone@example.org"});
  QuietLogs quiet;
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  // Tried again after each refused report, and reported exactly once in the end.
  EXPECT_EQ(bounce.calls(), 3);
  EXPECT_EQ(delivery.calls(0), 3u);
  ASSERT_EQ(bounce.reported().size(), 1u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, ExpiredRecipientsAreBouncedAsExpired) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {TempFail{"451 4.4.1 connection refused"}}}, {1, {Delivered{}}}});
  RecordingBounce bounce;
  Scheduler::Options options = fast_options();
  options.lifetime = 0s;
  options.bounce = bounce.fn();
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  const std::string id = commit(spool, {"far@example.com", "b@example.org"});
  std::this_thread::sleep_for(2ms);
  QuietLogs quiet;
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  ASSERT_EQ(bounce.reported().size(), 1u);
  EXPECT_EQ(bounce.reported()[0].rcpt, "far@example.com");
  EXPECT_EQ(bounce.reported()[0].reply, "451 4.4.1 connection refused");
  EXPECT_TRUE(bounce.reported()[0].expired);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, DelivererGetsOnlyPendingRecipientsTogether) {
  TempDir temp;
  queue::Spool spool(temp.path());
  std::mutex mutex;
  std::vector<std::vector<unsigned>> calls;
  Scheduler scheduler(
      spool,
      [&](const queue::StoredMessage&, std::span<const unsigned> rcpts) {
        std::lock_guard lock(mutex);
        calls.emplace_back(rcpts.begin(), rcpts.end());
        // The first attempt defers all but rcpt 1.
        std::vector<Outcome> out(rcpts.size(), Delivered{});
        for (std::size_t k = 0; k < rcpts.size(); ++k) {
          if (calls.size() == 1 && rcpts[k] != 1) out[k] = TempFail{"451 4.4.1 later"};
        }
        return out;
      },
      fast_options());
  scheduler.start();
  scheduler.enqueue(commit(spool, {"a@example.com", "b@example.org", "c@example.com"}));
  ASSERT_TRUE(drained(scheduler));
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (std::vector<unsigned>{0, 1, 2}));
  EXPECT_EQ(calls[1], (std::vector<unsigned>{0, 2}));
}

TEST(Scheduler, WrongNumberOfOutcomesDefers) {
  TempDir temp;
  queue::Spool spool(temp.path());
  std::atomic<int> calls = 0;
  Scheduler scheduler(
      spool,
      [&](const queue::StoredMessage&, std::span<const unsigned>) {
        // A buggy deliverer: first answers nothing, then answers properly.
        if (calls++ == 0) return std::vector<Outcome>{};
        return std::vector<Outcome>{Delivered{}};
      },
      fast_options());
  scheduler.start();
  QuietLogs quiet;
  scheduler.enqueue(commit(spool, {"a@example.org"}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, DiscardDropsUnreadWithoutDeliveringOrReporting) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}});
  std::atomic<int> hooks = 0;
  Scheduler::Options options = fast_options(2);
  options.discard = true;
  options.destinations = [&](const queue::StoredMessage&, std::span<const unsigned>) {
    ++hooks;
    return std::vector<std::string>{"example.org"};
  };
  options.report_success = [&](const queue::StoredMessage&, std::span<const Scheduler::Success>) {
    ++hooks;
    return true;
  };
  Scheduler scheduler(spool, delivery.fn(), options);
  const std::string held = commit(spool, {"h@example.org"});
  scheduler.enqueue(held);
  ASSERT_EQ(scheduler.hold(std::vector<std::string>{held})[0].result, Scheduler::Result::kDone);
  scheduler.start();
  for (int i = 0; i < 5; ++i) scheduler.enqueue(commit(spool, {"a@example.org"}));
  ASSERT_TRUE(scheduler.wait_idle(10s));
  EXPECT_EQ(delivery.calls(0), 0u);
  EXPECT_EQ(hooks.load(), 0);
  EXPECT_EQ(spool.queued_ids(), std::vector<std::string>{held});  // held stays held
}

TEST(Scheduler, DuplicateEnqueueDeliversOnce) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options(4));
  const std::string id = commit(spool, {"a@example.org"});
  scheduler.enqueue(id);
  scheduler.enqueue(id);  // e.g. recovery racing the commit path
  scheduler.start();
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 1u);
}

TEST(Scheduler, MissingMessageIsForgotten) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options());
  scheduler.start();
  QuietLogs quiet;
  scheduler.enqueue(queue::make_queue_id());
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 0u);
}

TEST(Scheduler, ManyMessagesManyWorkersThenStop) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}, {1, {TempFail{"451 4.3.0 once"}, Delivered{}}}});
  auto scheduler = std::make_unique<Scheduler>(spool, delivery.fn(), fast_options(3));
  scheduler->start();
  for (int i = 0; i < 50; ++i) scheduler->enqueue(commit(spool, {"a@x", "b@x"}));
  ASSERT_TRUE(drained(*scheduler));
  EXPECT_TRUE(spool.queued_ids().empty());
  scheduler->stop();
  scheduler.reset();  // the destructor after stop() must be harmless
}

TEST(Scheduler, DestructorStopsRunningWorkers) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}});
  {
    Scheduler scheduler(spool, delivery.fn(), fast_options(2));
    scheduler.start();
  }
  SUCCEED();
}

// --- queue control --------------------------------------------------------------------------

// A scheduler whose first retry is an hour away: a deferred message stays deferred unless
// flushed, so each test decides when attempts happen.
Scheduler::Options slow_retry() {
  Scheduler::Options options = fast_options();
  options.first_retry = 3600s;
  options.max_retry = 3600s;
  return options;
}

using R = Scheduler::Result;
std::vector<R> results(const std::vector<Scheduler::ControlResult>& control) {
  std::vector<R> out;
  for (const auto& c : control) out.push_back(c.result);
  return out;
}

TEST(SchedulerControl, DeferredStatusCarriesAttemptsNextAttemptAndReplies) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}, {1, {TempFail{"451 4.4.0 not yet"}}}});
  Scheduler scheduler(spool, delivery.fn(), slow_retry());
  scheduler.start();
  const std::string id = commit(spool, {"local@example.org", "far@example.com"});
  const auto before = std::chrono::system_clock::now();
  scheduler.enqueue(id);
  ASSERT_TRUE(reaches(scheduler, id, Scheduler::State::kDeferred));
  const auto status = scheduler.status(id);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->attempts, 1u);
  ASSERT_EQ(status->deferrals.size(), 1u);
  EXPECT_EQ(status->deferrals[0].rcpt, 1u);
  EXPECT_EQ(status->deferrals[0].reply, "451 4.4.0 not yet");
  ASSERT_TRUE(status->next_attempt.has_value());
  EXPECT_GT(*status->next_attempt, before + 3500s);
  EXPECT_LT(*status->next_attempt, before + 3700s);
  const auto all = scheduler.statuses();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, id);
}

TEST(SchedulerControl, FlushMakesDeferredMessagesDueNow) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {TempFail{"451 4.3.0 busy"}, Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), slow_retry());
  scheduler.start();
  const std::string a = commit(spool, {"a@example.org"});
  scheduler.enqueue(a);
  ASSERT_TRUE(reaches(scheduler, a, Scheduler::State::kDeferred));
  EXPECT_EQ(results(scheduler.flush(std::vector<std::string>{a, queue::make_queue_id(), "bad"})),
            (std::vector<R>{R::kDone, R::kNotQueued, R::kInvalid}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 2u);
  EXPECT_TRUE(spool.queued_ids().empty());

  // Flush of everything: only deferred messages count.
  ScriptedDelivery later({{0, {TempFail{"451 4.3.0 busy"}}}});
  Scheduler second(spool, later.fn(), slow_retry());
  second.start();
  const std::string b = commit(spool, {"b@example.org"});
  const std::string c = commit(spool, {"c@example.org"});
  second.enqueue(b);
  second.enqueue(c);
  ASSERT_TRUE(reaches(second, b, Scheduler::State::kDeferred));
  ASSERT_TRUE(reaches(second, c, Scheduler::State::kDeferred));
  EXPECT_EQ(second.hold(std::vector<std::string>{c})[0].result, R::kDone);
  EXPECT_EQ(second.flush(), 1u);
  ASSERT_TRUE(second.wait_idle(10s));
  ASSERT_TRUE(reaches(second, b, Scheduler::State::kDeferred));
  EXPECT_EQ(later.calls(0), 3u);  // b twice, c once
  EXPECT_EQ(second.status(b)->attempts, 2u);
  EXPECT_EQ(second.status(c)->state, Scheduler::State::kHeld);
}

TEST(SchedulerControl, HeldMessageIsNeverAttemptedEvenWhenFlushed) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options());
  const std::string id = commit(spool, {"a@example.org"});
  scheduler.enqueue(id);  // not started: it waits in the ready queue
  EXPECT_EQ(results(scheduler.hold(std::vector<std::string>{id, id})),
            (std::vector<R>{R::kDone, R::kUnchanged}));
  scheduler.start();
  EXPECT_EQ(scheduler.flush(std::vector<std::string>{id})[0].result, R::kHeld);
  EXPECT_EQ(scheduler.flush(), 0u);
  ASSERT_TRUE(scheduler.wait_idle(10s));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(delivery.calls(0), 0u);
  EXPECT_EQ(scheduler.status(id)->state, Scheduler::State::kHeld);
  EXPECT_TRUE(spool.is_held(id));
  EXPECT_EQ(scheduler.pending(), 1u);

  EXPECT_EQ(results(scheduler.release(std::vector<std::string>{id, id})),
            (std::vector<R>{R::kDone, R::kUnchanged}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 1u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(SchedulerControl, ReleaseOfADeferredMessageKeepsItsRetryTime) {
  TempDir temp;
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {TempFail{"451 4.3.0 busy"}, Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), slow_retry());
  scheduler.start();
  const std::string id = commit(spool, {"a@example.org"});
  scheduler.enqueue(id);
  ASSERT_TRUE(reaches(scheduler, id, Scheduler::State::kDeferred));
  const auto due = scheduler.status(id)->next_attempt;
  ASSERT_EQ(scheduler.hold(std::vector<std::string>{id})[0].result, R::kDone);
  EXPECT_FALSE(scheduler.status(id)->next_attempt.has_value());
  ASSERT_EQ(scheduler.release(std::vector<std::string>{id})[0].result, R::kDone);
  ASSERT_EQ(scheduler.status(id)->state, Scheduler::State::kDeferred);
  EXPECT_NEAR(std::chrono::duration<double>(*scheduler.status(id)->next_attempt - *due).count(), 0,
              1.0);
  // release + flush: attempted now.
  ASSERT_EQ(scheduler.flush(std::vector<std::string>{id})[0].result, R::kDone);
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 2u);
}

TEST(SchedulerControl, HoldDuringAnAttemptTakesEffectWhenItDefers) {
  TempDir temp;
  queue::Spool spool(temp.path());
  std::promise<void> started;
  std::promise<void> go_on;
  auto go = go_on.get_future().share();
  std::atomic<int> calls = 0;
  Scheduler scheduler(
      spool, Scheduler::each_recipient([&](const queue::StoredMessage&, unsigned) -> Outcome {
        if (calls++ == 0) {
          started.set_value();
          go.wait();
        }
        return TempFail{"451 4.3.0 later"};
      }),
      fast_options());
  scheduler.start();
  const std::string id = commit(spool, {"a@example.org"});
  scheduler.enqueue(id);
  started.get_future().wait();
  EXPECT_EQ(scheduler.status(id)->state, Scheduler::State::kActive);
  EXPECT_EQ(scheduler.hold(std::vector<std::string>{id})[0].result, R::kDone);
  go_on.set_value();
  ASSERT_TRUE(reaches(scheduler, id, Scheduler::State::kHeld));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(calls.load(), 1);  // first_retry is 0: without the hold it would have run again
  EXPECT_EQ(scheduler.status(id)->attempts, 1u);
}

TEST(SchedulerControl, DeleteRemovesFromScheduleAndSpool) {
  TempDir temp;
  std::string deferred, held, queued;
  {
    queue::Spool spool(temp.path());
    ScriptedDelivery delivery({{0, {TempFail{"451 4.3.0 later"}}}});
    Scheduler scheduler(spool, delivery.fn(), slow_retry());
    deferred = commit(spool, {"a@example.org"});
    held = commit(spool, {"a@example.org"});
    queued = commit(spool, {"a@example.org"});
    scheduler.enqueue(deferred);
    scheduler.start();
    ASSERT_TRUE(reaches(scheduler, deferred, Scheduler::State::kDeferred));
    scheduler.stop();  // `queued` stays queued: no worker takes it
    scheduler.enqueue(held);
    scheduler.enqueue(queued);
    ASSERT_EQ(scheduler.hold(std::vector<std::string>{held})[0].result, R::kDone);
    EXPECT_EQ(results(scheduler.delete_messages(
                  std::vector<std::string>{deferred, held, queued, queue::make_queue_id()})),
              (std::vector<R>{R::kDone, R::kDone, R::kDone, R::kNotQueued}));
    EXPECT_EQ(scheduler.pending(), 0u);
    EXPECT_TRUE(spool.queued_ids().empty());
  }
  queue::Spool spool(temp.path());
  EXPECT_TRUE(spool.recover().empty());  // still gone after a restart
}

TEST(SchedulerControl, HeldMessageStaysHeldAcrossARestart) {
  TempDir temp;
  std::string held, other;
  {
    queue::Spool spool(temp.path());
    ScriptedDelivery delivery({{0, {TempFail{"451 4.3.0 later"}}}});
    Scheduler scheduler(spool, delivery.fn(), slow_retry());
    held = commit(spool, {"a@example.org"});
    other = commit(spool, {"a@example.org"});
    scheduler.enqueue(held);
    scheduler.enqueue(other);
    ASSERT_EQ(scheduler.hold(std::vector<std::string>{held})[0].result, R::kDone);
  }
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options());
  scheduler.start();
  for (const auto& id : spool.recover()) scheduler.enqueue(id);
  ASSERT_TRUE(scheduler.wait_idle(10s));
  ASSERT_TRUE(reaches(scheduler, held, Scheduler::State::kHeld));
  EXPECT_EQ(delivery.calls(0), 1u);  // `other` only
  EXPECT_EQ(spool.queued_ids(), std::vector<std::string>{held});
}

TEST(Scheduler, FinishedRecipientsAreNotRepeatedAfterARestart) {
  TempDir temp;
  std::string id;
  {
    queue::Spool spool(temp.path());
    ScriptedDelivery delivery({{0, {Delivered{}}},
                               {1, {PermFail{"550 5.1.1 no such mailbox"}}},
                               {2, {TempFail{"451 4.4.1 later"}}}});
    RecordingBounce bounce;
    Scheduler::Options options = slow_retry();
    options.bounce = bounce.fn();
    Scheduler scheduler(spool, delivery.fn(), options);
    scheduler.start();
    id = commit(spool, {"a@example.com", "gone@example.com", "far@example.com"});
    QuietLogs quiet;
    scheduler.enqueue(id);
    ASSERT_TRUE(reaches(scheduler, id, Scheduler::State::kDeferred));
    ASSERT_EQ(bounce.reported().size(), 1u);
    EXPECT_EQ(spool.finished_recipients(id), (std::vector<std::uint32_t>{0, 1}));
  }  // stopped between attempts, like a SIGTERM
  queue::Spool spool(temp.path());
  std::mutex mutex;
  std::vector<std::vector<unsigned>> calls;
  RecordingBounce bounce;
  Scheduler::Options options = fast_options();
  options.bounce = bounce.fn();
  Scheduler scheduler(
      spool,
      [&](const queue::StoredMessage&, std::span<const unsigned> rcpts) {
        std::lock_guard lock(mutex);
        calls.emplace_back(rcpts.begin(), rcpts.end());
        return std::vector<Outcome>(rcpts.size(), Delivered{});
      },
      options);
  scheduler.start();
  for (const auto& recovered : spool.recover()) scheduler.enqueue(recovered);
  ASSERT_TRUE(drained(scheduler));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], std::vector<unsigned>{2});  // not the delivered one, not the bounced one
  EXPECT_TRUE(bounce.reported().empty());         // the failure was reported once, before
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Scheduler, MessageWhoseRecipientsAllFinishedIsRemovedWithoutAnAttempt) {
  TempDir temp;
  std::string id;
  {
    queue::Spool spool(temp.path());
    id = commit(spool, {"a@example.com", "b@example.com"});
    // As if the done record was lost in a crash after every recipient was recorded finished.
    ASSERT_EQ(spool.finish_recipients(id, {1}), 0);
    ASSERT_EQ(spool.finish_recipients(id, {0}), 0);
  }
  queue::Spool spool(temp.path());
  ScriptedDelivery delivery({{0, {Delivered{}}}, {1, {Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), fast_options());
  scheduler.start();
  for (const auto& recovered : spool.recover()) scheduler.enqueue(recovered);
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 0u);
  EXPECT_EQ(delivery.calls(1), 0u);
  EXPECT_TRUE(spool.queued_ids().empty());
}

}  // namespace
}  // namespace sealpost::delivery
