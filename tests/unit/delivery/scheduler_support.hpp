// Helpers shared by the Scheduler tests: committing a message to a real spool, options that
// retry at once, waiting for the scheduler to drain, and a deliverer that answers from a
// script. Header-only; each test file keeps its own specialised helpers.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "delivery/scheduler.hpp"
#include "queue/queue_id.hpp"

namespace sealpost::testing {

using namespace std::chrono_literals;
using delivery::Outcome;
using delivery::Scheduler;

inline Scheduler::Options fast_options(unsigned workers = 1) {
  Scheduler::Options options;
  options.workers = workers;
  options.first_retry = 0s;  // retry at once: the tests wait for outcomes, not for clocks
  options.max_retry = 1s;
  return options;
}

inline std::string commit_envelope(queue::Spool& spool, const queue::Envelope& envelope,
                                   const std::string& content = "Subject: hi\r\n\r\nbody\r\n") {
  const std::string id = queue::make_queue_id();
  const std::string_view parts[] = {content};
  const auto result = spool.commit(id, envelope, parts);
  EXPECT_TRUE(result.ok()) << result.what;
  return id;
}

inline std::string commit(queue::Spool& spool, std::vector<std::string> recipients,
                          const std::string& content = "Subject: hi\r\n\r\nbody\r\n") {
  return commit_envelope(spool, queue::Envelope{"s@example.net", std::move(recipients)}, content);
}

// Waits for the scheduler to have nothing left, retries included.
inline bool drained(const Scheduler& scheduler, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (scheduler.pending() != 0) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Waits until `id` is known and `ok` holds for its status (the workers run on their own
// threads).
template <typename Pred>
bool status_becomes(const Scheduler& scheduler, const std::string& id, Pred ok,
                    std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto status = scheduler.status(id);
    if (status && ok(*status)) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// Waits until `id` reaches `state`.
inline bool reaches(const Scheduler& scheduler, const std::string& id, Scheduler::State state,
                    std::chrono::milliseconds timeout = 10s) {
  return status_becomes(
      scheduler, id, [state](const Scheduler::Status& s) { return s.state == state; }, timeout);
}

// Records calls per recipient index and answers from a script: the Nth call gets script[N],
// then the last entry forever.
class ScriptedDelivery {
 public:
  explicit ScriptedDelivery(std::map<unsigned, std::vector<Outcome>> script)
      : script_(std::move(script)) {}

  Scheduler::DeliverFn fn() {
    return Scheduler::each_recipient([this](const queue::StoredMessage&, unsigned rcpt) {
      std::lock_guard lock(mutex_);
      const unsigned n = calls_[rcpt]++;
      const auto& answers = script_.at(rcpt);
      return answers[std::min<std::size_t>(n, answers.size() - 1)];
    });
  }
  unsigned calls(unsigned rcpt) {
    std::lock_guard lock(mutex_);
    return calls_[rcpt];
  }

 private:
  std::mutex mutex_;
  std::map<unsigned, std::vector<Outcome>> script_;
  std::map<unsigned, unsigned> calls_;
};

// The same as a deliverer that owns its script (when nobody asks for the call counts).
inline Scheduler::DeliverFn scripted(std::map<unsigned, std::vector<Outcome>> script) {
  auto delivery = std::make_shared<ScriptedDelivery>(std::move(script));
  return [delivery, fn = delivery->fn()](const queue::StoredMessage& message,
                                         std::span<const unsigned> rcpts) {
    return fn(message, rcpts);
  };
}

}  // namespace sealpost::testing
