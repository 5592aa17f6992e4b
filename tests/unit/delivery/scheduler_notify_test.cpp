// Scheduler's DSN hooks beyond failures (RFC 3461 §4.1 NOTIFY): a success report per attempt
// for the recipients delivered that asked for SUCCESS, none for a next hop that took the DSN
// parameters; one delay warning per message once it is older than delay_warning, for the
// recipients still deferred with NOTIFY=DELAY or no NOTIFY, never for NEVER or FAILURE alone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "delivery/scheduler.hpp"
#include "queue/queue_id.hpp"
#include "scheduler_support.hpp"
#include "test_support.hpp"

namespace sealpost::delivery {
namespace {

using namespace std::chrono_literals;
using sealpost::testing::commit_envelope;
using sealpost::testing::drained;
using sealpost::testing::fast_options;
using sealpost::testing::QuietLogs;
using sealpost::testing::reaches;
using sealpost::testing::scripted;
using sealpost::testing::ScriptedDelivery;
using sealpost::testing::TempDir;

constexpr std::uint8_t kSuccess = queue::kNotifySuccess;
constexpr std::uint8_t kFailure = queue::kNotifyFailure;
constexpr std::uint8_t kDelay = queue::kNotifyDelay;
constexpr std::uint8_t kNever = queue::kNotifyNever;

// One recipient per NOTIFY value given (0: none given).
std::string commit_notify(queue::Spool& spool, const std::vector<std::uint8_t>& notify) {
  queue::Envelope envelope;
  envelope.reverse_path = "s@example.net";
  for (std::size_t i = 0; i < notify.size(); ++i) {
    envelope.recipients.push_back("r" + std::to_string(i) + "@example.com");
    queue::RecipientDsn dsn;
    dsn.notify = notify[i];
    envelope.recipient_dsn.push_back(dsn);
  }
  return commit_envelope(spool, envelope);
}

Delivered relayed(bool dsn_passed_on) {
  Delivered d;
  d.relayed = true;
  d.dsn_passed_on = dsn_passed_on;
  d.remote_mta = "mx.example.com";
  d.reply = "250 2.0.0 queued";
  return d;
}

// What the hooks were asked to report: one entry per call, the recipient indexes in it.
struct Recorder {
  std::mutex mutex;
  std::vector<std::vector<unsigned>> success_calls;
  std::vector<std::vector<Delivered>> success_outcomes;
  std::vector<std::vector<unsigned>> delay_calls;
  std::vector<std::string> delay_replies;
  std::chrono::system_clock::time_point retry_until{};
  int delay_refusals = 0;

  void attach(Scheduler::Options& options) {
    options.report_success = [this](const queue::StoredMessage&,
                                    std::span<const Scheduler::Success> successes) {
      std::lock_guard lock(mutex);
      std::vector<unsigned> rcpts;
      std::vector<Delivered> outcomes;
      for (const auto& s : successes) {
        rcpts.push_back(s.rcpt);
        outcomes.push_back(s.delivered);
      }
      success_calls.push_back(rcpts);
      success_outcomes.push_back(outcomes);
      return true;
    };
    options.warn_delay = [this](const queue::StoredMessage&,
                                std::span<const Scheduler::Deferral> deferrals,
                                std::chrono::system_clock::time_point until) {
      std::lock_guard lock(mutex);
      std::vector<unsigned> rcpts;
      for (const auto& d : deferrals) {
        rcpts.push_back(d.rcpt);
        delay_replies.push_back(d.reply);
      }
      delay_calls.push_back(rcpts);
      retry_until = until;
      if (delay_refusals > 0) {
        --delay_refusals;
        return false;
      }
      return true;
    };
  }
};

TEST(SchedulerNotify, SuccessOnlyForNotifySuccessAndNotWhenTheNextHopReports) {
  TempDir temp;
  queue::Spool spool(temp.path());
  Recorder recorder;
  Scheduler::Options options = fast_options();
  recorder.attach(options);
  Scheduler scheduler(spool,
                      scripted({{0, {Delivered{}}},     // SUCCESS, local: "delivered"
                                {1, {Delivered{}}},     // no NOTIFY: nothing
                                {2, {relayed(true)}},   // SUCCESS, next hop took DSN
                                {3, {relayed(false)}},  // SUCCESS,FAILURE, it did not
                                {4, {Delivered{}}},     // FAILURE only
                                {5, {Delivered{}}}}),   // NEVER
                      options);
  scheduler.start();
  scheduler.enqueue(
      commit_notify(spool, {kSuccess, 0, kSuccess, kSuccess | kFailure, kFailure, kNever}));
  ASSERT_TRUE(drained(scheduler));
  std::lock_guard lock(recorder.mutex);
  ASSERT_EQ(recorder.success_calls.size(), 1u);  // one report for the message
  EXPECT_EQ(recorder.success_calls[0], (std::vector<unsigned>{0, 3}));
  const auto& outcomes = recorder.success_outcomes[0];
  EXPECT_FALSE(outcomes[0].relayed);
  EXPECT_TRUE(outcomes[1].relayed);
  EXPECT_EQ(outcomes[1].remote_mta, "mx.example.com");
  EXPECT_EQ(outcomes[1].reply, "250 2.0.0 queued");
  EXPECT_TRUE(recorder.delay_calls.empty());  // delay_warning is 0: off
}

TEST(SchedulerNotify, OneSuccessReportPerAttempt) {
  TempDir temp;
  queue::Spool spool(temp.path());
  Recorder recorder;
  Scheduler::Options options = fast_options();
  recorder.attach(options);
  Scheduler scheduler(
      spool, scripted({{0, {Delivered{}}}, {1, {TempFail{"451 4.2.0 later"}, Delivered{}}}}),
      options);
  scheduler.start();
  scheduler.enqueue(commit_notify(spool, {kSuccess, kSuccess}));
  ASSERT_TRUE(drained(scheduler));
  std::lock_guard lock(recorder.mutex);
  ASSERT_EQ(recorder.success_calls.size(), 2u);
  EXPECT_EQ(recorder.success_calls[0], std::vector<unsigned>{0});
  EXPECT_EQ(recorder.success_calls[1], std::vector<unsigned>{1});
}

TEST(SchedulerNotify, OneDelayWarningPerMessageForDelayOrNoNotify) {
  TempDir temp;
  queue::Spool spool(temp.path());
  Recorder recorder;
  Scheduler::Options options = fast_options();
  options.delay_warning = 1s;
  options.lifetime = 3600s;
  recorder.attach(options);
  const TempFail later{"451 4.2.0 try later"};
  std::map<unsigned, std::vector<Outcome>> script;
  for (unsigned i = 0; i < 6; ++i) script[i] = {later, later, later, later, Delivered{}};
  Scheduler scheduler(spool, scripted(script), options);
  scheduler.start();
  const auto before = std::chrono::system_clock::now();
  const std::string id =
      commit_notify(spool, {0, kDelay, kDelay | kFailure, kNever, kFailure, kSuccess});
  std::this_thread::sleep_for(1100ms);  // older than delay_warning at the first attempt
  QuietLogs quiet;
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  std::lock_guard lock(recorder.mutex);
  ASSERT_EQ(recorder.delay_calls.size(), 1u);  // four deferrals, one warning
  EXPECT_EQ(recorder.delay_calls[0], (std::vector<unsigned>{0, 1, 2}));
  EXPECT_EQ(recorder.delay_replies[0], "451 4.2.0 try later");
  // Will-Retry-Until is arrival + lifetime.
  EXPECT_GE(recorder.retry_until, before + 3600s - 1s);
  EXPECT_LE(recorder.retry_until, before + 3600s + 2s);
}

TEST(SchedulerNotify, NoDelayWarningBeforeItIsDueOrForNeverAndFailureOnly) {
  TempDir temp;
  queue::Spool spool(temp.path());
  Recorder recorder;
  Scheduler::Options options = fast_options();
  options.delay_warning = 1s;
  recorder.attach(options);
  const TempFail later{"451 4.2.0 try later"};
  Scheduler scheduler(
      spool, scripted({{0, {later, later, Delivered{}}}, {1, {later, later, Delivered{}}}}),
      options);
  scheduler.start();
  QuietLogs quiet;
  // Young: delivered before it is a second old.
  scheduler.enqueue(commit_notify(spool, {0, kDelay}));
  ASSERT_TRUE(drained(scheduler));
  // Old enough, but nobody wants to hear of a delay.
  const std::string id = commit_notify(spool, {kNever, kFailure});
  std::this_thread::sleep_for(1100ms);
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  std::lock_guard lock(recorder.mutex);
  EXPECT_TRUE(recorder.delay_calls.empty());
}

TEST(SchedulerNotify, DelayWarningThatCannotBeQueuedIsTriedAtTheNextAttempt) {
  TempDir temp;
  queue::Spool spool(temp.path());
  Recorder recorder;
  recorder.delay_refusals = 1;
  Scheduler::Options options = fast_options();
  options.delay_warning = 1s;
  recorder.attach(options);
  const TempFail later{"451 4.2.0 try later"};
  Scheduler scheduler(spool, scripted({{0, {later, later, later, later, Delivered{}}}}), options);
  scheduler.start();
  const std::string id = commit_notify(spool, {0});
  std::this_thread::sleep_for(1100ms);
  QuietLogs quiet;
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  std::lock_guard lock(recorder.mutex);
  EXPECT_EQ(recorder.delay_calls.size(), 2u);  // refused once, queued at the second attempt
}

// The warning is recorded in the spool with the finished recipients (Spool::kDelayWarningIndex)
// and read back by the first attempt after a restart: the sender is not warned twice.
TEST(SchedulerNotify, DelayWarningIsNotSentAgainAfterARestart) {
  TempDir temp;
  const TempFail later{"451 4.2.0 try later"};
  Scheduler::Options options = fast_options();
  options.delay_warning = 1s;
  options.lifetime = 3600s;
  QuietLogs quiet;
  std::string id;
  {
    queue::Spool spool(temp.path());
    Recorder recorder;
    Scheduler::Options waiting = options;
    waiting.first_retry = waiting.max_retry = 3600s;  // one attempt, then it waits
    recorder.attach(waiting);
    Scheduler scheduler(spool, scripted({{0, {Delivered{}}}, {1, {later}}}), waiting);
    scheduler.start();
    id = commit_notify(spool, {kDelay, kDelay});
    std::this_thread::sleep_for(1100ms);  // older than delay_warning at the first attempt
    scheduler.enqueue(id);
    ASSERT_TRUE(reaches(scheduler, id, Scheduler::State::kDeferred));
    std::lock_guard lock(recorder.mutex);
    ASSERT_EQ(recorder.delay_calls.size(), 1u);
    EXPECT_EQ(recorder.delay_calls[0], std::vector<unsigned>{1});
    EXPECT_EQ(spool.finished_recipients(id),
              (std::vector<std::uint32_t>{0, queue::Spool::kDelayWarningIndex}));
  }  // stopped between attempts, like a SIGTERM
  queue::Spool spool(temp.path());
  Recorder recorder;
  recorder.attach(options);
  ScriptedDelivery delivery({{0, {Delivered{}}}, {1, {later, later, Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  for (const auto& recovered : spool.recover()) scheduler.enqueue(recovered);
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 0u);  // finished before the restart
  EXPECT_EQ(delivery.calls(1), 3u);  // deferred twice more, then delivered
  std::lock_guard lock(recorder.mutex);
  EXPECT_TRUE(recorder.delay_calls.empty());
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(SchedulerNotify, ExpiryBouncesWithoutADelayWarning) {
  TempDir temp;
  queue::Spool spool(temp.path());
  Recorder recorder;
  Scheduler::Options options = fast_options();
  options.delay_warning = 1s;
  options.lifetime = 0s;
  std::atomic<int> bounces = 0;
  options.bounce = [&bounces](const queue::StoredMessage&, std::span<const Scheduler::Failure>) {
    ++bounces;
    return true;
  };
  recorder.attach(options);
  Scheduler scheduler(spool, scripted({{0, {TempFail{"451 4.2.0 try later"}}}}), options);
  scheduler.start();
  const std::string id = commit_notify(spool, {0});
  std::this_thread::sleep_for(1100ms);
  QuietLogs quiet;
  scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  std::lock_guard lock(recorder.mutex);
  EXPECT_TRUE(recorder.delay_calls.empty());
  EXPECT_EQ(bounces.load(), 1);
}

}  // namespace
}  // namespace sealpost::delivery
