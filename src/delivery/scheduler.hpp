// Moves committed messages from the spool to their mailboxes on worker threads, and removes a
// message from the spool only after every recipient is Delivered (or PermFailed: logged; DSNs
// come with remote delivery). TempFail is retried with exponential backoff (1 min doubling,
// capped at 1 h) until the message is older than the lifetime (5 days), then dropped and logged.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "delivery/outcome.hpp"
#include "queue/spool.hpp"

namespace sealpost::delivery {

class Scheduler {
 public:
  // Delivers one recipient (index into envelope.recipients) of a stored message.
  using DeliverFn = std::function<Outcome(const queue::StoredMessage&, unsigned rcpt_index)>;

  struct Options {
    unsigned workers = 1;
    std::chrono::seconds first_retry{60};
    std::chrono::seconds max_retry{3600};
    std::chrono::seconds lifetime{5 * 24 * 3600};
  };

  Scheduler(queue::Spool& spool, DeliverFn deliver, Options options);
  ~Scheduler();  // stop()s

  void start();                  // starts the worker threads
  void enqueue(std::string id);  // thread-safe; called after a commit or by recovery
  void stop();                   // finishes in-flight deliveries, then joins
  std::size_t pending() const;   // queued + waiting for retry (for tests and status)
  // Blocks until nothing is queued or in flight (retries excluded) or the timeout passes.
  bool wait_idle(std::chrono::milliseconds timeout);

 private:
  void run();
  void attempt(const std::string& id);

  queue::Spool& spool_;
  DeliverFn deliver_;
  Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::string> ready_;
  std::multimap<std::chrono::steady_clock::time_point, std::string> retries_;
  std::map<std::string, std::chrono::seconds> backoff_;
  unsigned in_flight_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sealpost::delivery
