// Per-destination concurrency: DestinationSlots' arithmetic (all-or-nothing slots, parked
// messages woken oldest first, a woken message's claim), and the Scheduler with a limit: never
// more attempts at one destination than the limit while other destinations go on, a parked
// message is queued with no attempt counted, a message for two destinations never holds one
// slot while it waits for the other, and hold/delete/flush/stop of parked messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "delivery/destination_slots.hpp"
#include "delivery/scheduler.hpp"
#include "scheduler_support.hpp"
#include "test_support.hpp"

namespace sealpost::delivery {
namespace {

using namespace std::chrono_literals;
using sealpost::testing::commit;
using sealpost::testing::drained;
using sealpost::testing::fast_options;
using sealpost::testing::status_becomes;
using sealpost::testing::TempDir;
using State = Scheduler::State;
using R = Scheduler::Result;

// --- DestinationSlots -----------------------------------------------------------------------

std::vector<std::string> ids_of(const std::vector<DestinationSlots::Woken>& woken) {
  std::vector<std::string> ids;
  for (const auto& w : woken) ids.push_back(w.id);
  return ids;
}

TEST(DestinationSlots, AllOrNothing) {
  DestinationSlots slots(1);
  const std::vector<std::string> a{"a.example"};
  const std::vector<std::string> ab{"a.example", "b.example"};
  EXPECT_EQ(slots.acquire(a), nullptr);
  const std::string* full = slots.acquire(ab);
  ASSERT_NE(full, nullptr);
  EXPECT_EQ(*full, "a.example");
  EXPECT_EQ(slots.active("b.example"), 0u);  // not taken while a.example was full
  slots.release("a.example");
  EXPECT_EQ(slots.acquire(ab), nullptr);
  EXPECT_EQ(slots.active("a.example"), 1u);
  EXPECT_EQ(slots.active("b.example"), 1u);
}

TEST(DestinationSlots, WakesTheOldestParkedAndClaimsKeepNewcomersOut) {
  DestinationSlots slots(2);
  const std::vector<std::string> d{"d.example"};
  ASSERT_EQ(slots.acquire(d), nullptr);
  ASSERT_EQ(slots.acquire(d), nullptr);
  ASSERT_NE(slots.acquire(d), nullptr);
  slots.park("d.example", 7, "late");
  slots.park("d.example", 3, "early");
  slots.park("d.example", 5, "middle");
  EXPECT_TRUE(slots.wake("d.example").empty());  // both slots held

  slots.release("d.example");
  const auto woken = slots.wake("d.example");
  EXPECT_EQ(ids_of(woken), std::vector<std::string>{"early"});
  EXPECT_EQ(woken[0].seq, 3u);
  // The freed slot is claimed for "early": a newcomer cannot take it meanwhile.
  EXPECT_NE(slots.acquire(d), nullptr);
  EXPECT_TRUE(slots.wake("d.example").empty());
  // Taken by a worker: the claim ends and its owner gets the slot.
  slots.drop_claim("d.example");
  EXPECT_EQ(slots.acquire(d), nullptr);
  EXPECT_EQ(slots.active("d.example"), 2u);

  // A claim dropped unused (held, deleted, parked elsewhere) goes to the next in line.
  slots.release("d.example");
  EXPECT_EQ(ids_of(slots.wake("d.example")), std::vector<std::string>{"middle"});
  slots.drop_claim("d.example");
  EXPECT_EQ(ids_of(slots.wake("d.example")), std::vector<std::string>{"late"});
  EXPECT_EQ(slots.parked("d.example"), 0u);
}

TEST(DestinationSlots, UnparkAndForgetUnusedDestinations) {
  DestinationSlots slots(1);
  const std::vector<std::string> d{"d.example"};
  ASSERT_EQ(slots.acquire(d), nullptr);
  slots.park("d.example", 1, "one");
  slots.park("d.example", 2, "two");
  slots.unpark("d.example", 1);
  EXPECT_EQ(slots.parked("d.example"), 1u);
  slots.release("d.example");
  EXPECT_EQ(ids_of(slots.wake("d.example")), std::vector<std::string>{"two"});
  slots.drop_claim("d.example");
  EXPECT_EQ(slots.active("d.example"), 0u);
  EXPECT_EQ(slots.parked("d.example"), 0u);
  // Releasing what is not held is harmless.
  slots.release("d.example");
  slots.drop_claim("d.example");
  EXPECT_EQ(slots.acquire(d), nullptr);
}

TEST(DestinationSlots, ZeroIsNoLimit) {
  DestinationSlots slots(0);
  EXPECT_FALSE(slots.limited());
  const std::vector<std::string> d{"d.example"};
  for (int i = 0; i < 100; ++i) EXPECT_EQ(slots.acquire(d), nullptr);
}

// --- Scheduler with a limit -----------------------------------------------------------------

// The domain of each recipient, lower case: what the daemon's router gives for remote mail.
// Recipients without '@' are "local": no destination.
std::vector<std::string> domains(const queue::StoredMessage& message,
                                 std::span<const unsigned> rcpts) {
  std::vector<std::string> out;
  for (const unsigned i : rcpts) {
    const std::string& rcpt = message.envelope.recipients.at(i);
    const auto at = rcpt.find('@');
    if (at != std::string::npos) out.push_back(rcpt.substr(at + 1));
  }
  return out;
}

// Waits until `id` is parked at `destination`.
bool parked_at(const Scheduler& scheduler, const std::string& id, const std::string& destination) {
  return status_becomes(scheduler, id, [&](const Scheduler::Status& s) {
    return s.state == State::kQueued && s.waiting_for == destination;
  });
}

Scheduler::Options limited(unsigned workers, unsigned limit) {
  Scheduler::Options options = fast_options(workers);
  options.destination_concurrency = limit;
  options.destinations = domains;
  return options;
}

// A deliverer that counts attempts in progress per domain (and the most ever at once), and
// keeps those to blocked domains waiting until opened.
class GatedDelivery {
 public:
  explicit GatedDelivery(std::vector<std::string> blocked) : blocked_(std::move(blocked)) {}

  Scheduler::DeliverFn fn() {
    return [this](const queue::StoredMessage& message, std::span<const unsigned> rcpts) {
      const std::vector<std::string> at = domains(message, rcpts);
      {
        std::unique_lock lock(mutex_);
        for (const auto& d : at) {
          max_[d] = std::max(max_[d], ++now_[d]);
          ++started_[d];
        }
        changed_.notify_all();
        changed_.wait(lock, [&] {
          return open_ || std::ranges::none_of(at, [&](const std::string& d) {
                   return std::ranges::find(blocked_, d) != blocked_.end();
                 });
        });
        for (const auto& d : at) --now_[d];
        delivered_.push_back(message.id);
      }
      changed_.notify_all();
      return std::vector<Outcome>(rcpts.size(), Delivered{});
    };
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Waits until `n` attempts have started at `domain`.
  bool wait_started(const std::string& domain, int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return started_[domain] >= n; });
  }
  bool wait_delivered(const std::string& id) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s,
                             [&] { return std::ranges::find(delivered_, id) != delivered_.end(); });
  }
  int max(const std::string& domain) {
    std::lock_guard lock(mutex_);
    return max_[domain];
  }
  std::vector<std::string> delivered() {
    std::lock_guard lock(mutex_);
    return delivered_;
  }
  int started(const std::string& domain) {
    std::lock_guard lock(mutex_);
    return started_[domain];
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> blocked_;
  bool open_ = false;
  std::map<std::string, int> now_, max_, started_;
  std::vector<std::string> delivered_;
};

TEST(SchedulerDestinations, NeverMoreThanTheLimitAtOneDestinationWhileOthersGoOn) {
  TempDir temp;
  queue::Spool spool(temp.path());
  GatedDelivery delivery({"slow.example"});
  Scheduler scheduler(spool, delivery.fn(), limited(4, 2));
  scheduler.start();
  std::vector<std::string> slow;
  for (int i = 0; i < 6; ++i) {
    slow.push_back(commit(spool, {"r" + std::to_string(i) + "@slow.example"}));
    scheduler.enqueue(slow.back());
  }
  ASSERT_TRUE(delivery.wait_started("slow.example", 2));
  // Two workers are stuck at slow.example; the other two still deliver elsewhere.
  const std::string fast = commit(spool, {"a@fast.example", "local"});
  scheduler.enqueue(fast);
  ASSERT_TRUE(delivery.wait_delivered(fast));
  int parked = 0;
  for (const auto& id : slow) {
    ASSERT_TRUE(status_becomes(scheduler, id, [](const Scheduler::Status& s) {
      return s.state == State::kActive || !s.waiting_for.empty();
    }));
    const auto status = scheduler.status(id);
    if (status->state == State::kActive) continue;
    // Parked: still queued, nothing counted, no retry time.
    ++parked;
    EXPECT_EQ(status->state, State::kQueued);
    EXPECT_EQ(status->waiting_for, "slow.example");
    EXPECT_EQ(status->attempts, 0u);
    EXPECT_FALSE(status->next_attempt.has_value());
  }
  EXPECT_EQ(parked, 4);
  EXPECT_EQ(delivery.started("slow.example"), 2);

  delivery.open();
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.max("slow.example"), 2);
  EXPECT_EQ(delivery.started("slow.example"), 6);  // each attempted once: parking is no attempt
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(SchedulerDestinations, ZeroIsNoLimit) {
  TempDir temp;
  queue::Spool spool(temp.path());
  GatedDelivery delivery({"slow.example"});
  Scheduler scheduler(spool, delivery.fn(), limited(3, 0));
  scheduler.start();
  for (int i = 0; i < 3; ++i) scheduler.enqueue(commit(spool, {"r@slow.example"}));
  ASSERT_TRUE(delivery.wait_started("slow.example", 3));
  EXPECT_EQ(delivery.max("slow.example"), 3);
  delivery.open();
  ASSERT_TRUE(drained(scheduler));
}

TEST(SchedulerDestinations, TwoDestinationsAreTakenTogetherOrNotAtAll) {
  TempDir temp;
  queue::Spool spool(temp.path());
  GatedDelivery delivery({"a.example"});
  Scheduler scheduler(spool, delivery.fn(), limited(3, 1));
  scheduler.start();
  const std::string first = commit(spool, {"x@a.example"});
  scheduler.enqueue(first);
  ASSERT_TRUE(delivery.wait_started("a.example", 1));
  // Waits for a.example without holding b.example, so the next one for b goes through.
  const std::string both = commit(spool, {"y@b.example", "z@a.example"});
  scheduler.enqueue(both);
  ASSERT_TRUE(parked_at(scheduler, both, "a.example"));
  const std::string b = commit(spool, {"w@b.example"});
  scheduler.enqueue(b);
  ASSERT_TRUE(delivery.wait_delivered(b));
  EXPECT_EQ(scheduler.status(both)->waiting_for, "a.example");

  delivery.open();
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.max("a.example"), 1);
  EXPECT_EQ(delivery.started("b.example"), 2);
}

TEST(SchedulerDestinations, ADeferralFreesTheSlotAndTheRetryAsksAgain) {
  TempDir temp;
  queue::Spool spool(temp.path());
  std::mutex mutex;
  std::vector<std::vector<unsigned>> asked;  // rcpts the destinations hook was asked about
  Scheduler::Options options = limited(2, 1);
  options.destinations = [&](const queue::StoredMessage& message, std::span<const unsigned> rcpts) {
    std::lock_guard lock(mutex);
    asked.emplace_back(rcpts.begin(), rcpts.end());
    return domains(message, rcpts);
  };
  sealpost::testing::ScriptedDelivery delivery(
      {{0, {Delivered{}}}, {1, {TempFail{"451 4.4.1 later"}, Delivered{}}}});
  Scheduler scheduler(spool, delivery.fn(), options);
  scheduler.start();
  scheduler.enqueue(commit(spool, {"a@fast.example", "b@slow.example"}));
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.calls(0), 1u);
  EXPECT_EQ(delivery.calls(1), 2u);
  std::lock_guard lock(mutex);
  // Before the first attempt, then for what stays pending after it; the retry asks no more.
  EXPECT_EQ(asked, (std::vector<std::vector<unsigned>>{{0, 1}, {1}}));
}

TEST(SchedulerDestinations, HoldDeleteAndFlushOfParkedMessages) {
  TempDir temp;
  queue::Spool spool(temp.path());
  GatedDelivery delivery({"d.example"});
  Scheduler scheduler(spool, delivery.fn(), limited(2, 1));
  scheduler.start();
  const std::string active = commit(spool, {"a@d.example"});
  scheduler.enqueue(active);
  ASSERT_TRUE(delivery.wait_started("d.example", 1));
  const std::string held = commit(spool, {"b@d.example"});
  const std::string deleted = commit(spool, {"c@d.example"});
  const std::string last = commit(spool, {"e@d.example"});
  for (const auto& id : {held, deleted, last}) scheduler.enqueue(id);
  ASSERT_TRUE(parked_at(scheduler, last, "d.example"));
  ASSERT_EQ(scheduler.status(held)->waiting_for, "d.example");

  EXPECT_EQ(scheduler.flush(std::vector<std::string>{held})[0].result, R::kUnchanged);
  EXPECT_EQ(scheduler.hold(std::vector<std::string>{held})[0].result, R::kDone);
  EXPECT_EQ(scheduler.status(held)->state, State::kHeld);
  EXPECT_EQ(scheduler.status(held)->waiting_for, "");
  EXPECT_EQ(scheduler.delete_messages(std::vector<std::string>{deleted})[0].result, R::kDone);
  EXPECT_FALSE(scheduler.status(deleted).has_value());

  delivery.open();
  ASSERT_TRUE(delivery.wait_delivered(last));
  ASSERT_TRUE(scheduler.wait_idle(10s));
  EXPECT_EQ(delivery.started("d.example"), 2);  // the held and the deleted one were not tried
  EXPECT_EQ(scheduler.status(held)->state, State::kHeld);
  EXPECT_EQ(scheduler.release(std::vector<std::string>{held})[0].result, R::kDone);
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.started("d.example"), 3);
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(SchedulerDestinations, StopWithParkedMessagesAndTheyAreDeliveredAfterARestart) {
  TempDir temp;
  std::vector<std::string> ids;
  std::vector<std::string> delivered;
  {
    queue::Spool spool(temp.path());
    GatedDelivery delivery({"d.example"});
    Scheduler scheduler(spool, delivery.fn(), limited(2, 1));
    scheduler.start();
    for (int i = 0; i < 3; ++i) {
      ids.push_back(commit(spool, {"r@d.example"}));
      scheduler.enqueue(ids.back());
    }
    ASSERT_TRUE(delivery.wait_started("d.example", 1));
    ASSERT_TRUE(parked_at(scheduler, ids.back(), "d.example"));
    // stop() first, so that the workers leave rather than take the parked messages when the
    // attempt in flight ends; it waits for that attempt, not for parked ones. (Opened first,
    // the parked ones could all be delivered before the stop: the run below then finds none.)
    std::thread stopper([&] { scheduler.stop(); });
    std::this_thread::sleep_for(50ms);
    delivery.open();
    stopper.join();
    delivered = delivery.delivered();
  }
  // The one in flight, and the other two were parked at the stop (unless the stopper thread
  // was slower than 50 ms: then the run below has less to do, and the checks still hold).
  EXPECT_GE(delivered.size(), 1u);
  queue::Spool spool(temp.path());
  GatedDelivery delivery({});
  Scheduler scheduler(spool, delivery.fn(), limited(2, 1));
  scheduler.start();
  for (const auto& id : spool.recover()) scheduler.enqueue(id);
  ASSERT_TRUE(drained(scheduler));
  EXPECT_EQ(delivery.max("d.example"), 1);
  // Each message delivered once over both runs: none lost, none repeated.
  for (const auto& id : delivery.delivered()) delivered.push_back(id);
  std::ranges::sort(delivered);
  std::ranges::sort(ids);
  EXPECT_EQ(delivered, ids);
  EXPECT_TRUE(spool.queued_ids().empty());
}

}  // namespace
}  // namespace sealpost::delivery
