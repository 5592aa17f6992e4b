// BatchedLogSink: one buffer of formatted lines behind base_sink's mutex, emptied by the
// writer thread a few milliseconds after its first line arrived, or at once by flush().
#include "daemon/log_sink.hpp"

#include <unistd.h>

#include <cerrno>

namespace sealpost::daemon {

namespace {

// Past this much, the logging thread writes itself: memory stays bounded even if the writer
// thread gets no CPU for a while.
constexpr std::size_t kMaxPending = 64 * 1024;

}  // namespace

BatchedLogSink::BatchedLogSink(int fd, std::chrono::milliseconds delay)
    : fd_(fd), delay_(delay), writer_(&BatchedLogSink::run_writer, this) {}

BatchedLogSink::~BatchedLogSink() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  writer_.join();  // it writes what is left on its way out
}

void BatchedLogSink::write_pending_if_free() noexcept {
  // A logging thread lets go within microseconds, the writer thread once its write(2) is
  // done; a thread that died inside the sink never does, and a write to a stalled stderr may
  // not end: give up after ~100 ms.
  for (int tries = 0; tries < 100; ++tries) {
    if (mutex_.try_lock()) {
      if (write_mutex_.try_lock()) {
        write_all(pending_);
        pending_.clear();
        write_mutex_.unlock();
        mutex_.unlock();
        return;
      }
      mutex_.unlock();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void BatchedLogSink::sink_it_(const spdlog::details::log_msg& msg) {
  const bool was_empty = pending_.size() == 0;
  formatter_->format(msg, pending_);  // appends
  if (pending_.size() >= kMaxPending) {
    flush_();
  } else if (was_empty) {
    // Only the first line of a batch wakes the writer; the rest ride along.
    wake_.notify_one();
  }
}

void BatchedLogSink::write_all(const spdlog::memory_buf_t& lines) {
  const char* data = lines.data();
  std::size_t left = lines.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // nowhere to log to: dropped, as a failed fwrite would drop it
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

void BatchedLogSink::flush_() {
  // Rare (a warning, the size cap, the end): written with mutex_ held, after whatever batch
  // the writer thread is writing.
  std::lock_guard write_lock(write_mutex_);
  write_all(pending_);
  pending_.clear();
}

void BatchedLogSink::run_writer() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait(lock, [this] { return stopping_ || pending_.size() > 0; });
    // Let the lines of the next few milliseconds join this one. The loggers never wait for
    // this thread (they only append under the mutex); the destructor cuts the wait short.
    wake_.wait_for(lock, delay_, [this] { return stopping_; });
    if (stopping_) break;  // the rest is written below, in order
    std::swap(pending_, writing_);
    std::unique_lock write_lock(write_mutex_);  // before mutex_ goes: batches stay in order
    lock.unlock();
    write_all(writing_);
    writing_.clear();
    write_lock.unlock();  // before mutex_ again: flush_() takes them in the other order
    lock.lock();
  }
  flush_();
}

}  // namespace sealpost::daemon
