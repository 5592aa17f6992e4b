// The daemon's log sink when stderr is not a terminal: each line is formatted at once, with
// its own timestamp, and the lines of a few milliseconds leave together in one write(2) from a
// small writer thread — instead of a locked fwrite and fflush per line from whichever thread
// logged. Warnings and worse are written at once, with every line before them, so the last
// words before an abort are never held back. Leaves out rotation (stderr goes to journald or
// a file the operator rotates) and colour (terminals keep spdlog's colour sink).
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

namespace sealpost::daemon {

class BatchedLogSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // fd stays open and owned by the caller (stderr). delay: how long a line may wait for
  // company before it is written.
  BatchedLogSink(int fd, std::chrono::milliseconds delay);
  // Writes what is left.
  ~BatchedLogSink() override;
  BatchedLogSink(const BatchedLogSink&) = delete;
  BatchedLogSink& operator=(const BatchedLogSink&) = delete;

  // For a process about to die (std::terminate): writes the pending lines now, unless another
  // thread stays inside the sink — that may be the dying thread itself, and waiting for it
  // would hang instead of dying.
  void write_pending_if_free() noexcept;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;  // spdlog calls it with mutex_ held

 private:
  void run_writer();
  void write_all(const spdlog::memory_buf_t& lines);  // with write_mutex_ held

  const int fd_;
  const std::chrono::milliseconds delay_;
  spdlog::memory_buf_t pending_;  // formatted lines not yet written; guarded by mutex_
  spdlog::memory_buf_t writing_;  // the writer thread's batch, written without mutex_
  // Held for every write(2): taken while mutex_ is held, so batches leave in the order they
  // were taken. The writer thread lets go of mutex_ for its write, so a slow reader of stderr
  // (a stalled journald, a full pipe) delays only the writer thread, not the threads that log.
  std::mutex write_mutex_;
  std::condition_variable wake_;  // pending_ became non-empty, or stopping_
  bool stopping_ = false;
  std::thread writer_;  // last: started once everything above exists
};

}  // namespace sealpost::daemon
