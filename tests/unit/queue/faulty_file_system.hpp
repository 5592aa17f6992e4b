// A FileSystem for spool tests: passes calls to the real one, counts them per operation, makes
// the Nth call of one operation (or every call of some) fail with a chosen errno, and can hold
// the committer inside its next log write so a test decides exactly what forms a batch.
#pragma once

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <set>
#include <vector>

#include "queue/file_system.hpp"

namespace sealpost::queue::testing {

enum class Op { kOpenNew, kWrite, kPwritev, kFdatasync, kFtruncate, kClose, kFsyncDir, kCount };

inline const char* op_name(Op op) {
  static constexpr const char* kNames[] = {"open_new",  "write", "pwritev",  "fdatasync",
                                           "ftruncate", "close", "fsync_dir"};
  return kNames[static_cast<int>(op)];
}

class FaultyFileSystem : public FileSystem {
 public:
  // The nth call (counted from now) of `op` fails with `error`.
  void fail_nth(Op op, int nth, int error) {
    std::lock_guard lock(mutex_);
    op_ = op;
    nth_ = nth;
    error_ = error;
    seen_ = 0;
  }
  // Every call of `op` fails with `error` until disarm().
  void fail_always(Op op, int error) {
    std::lock_guard lock(mutex_);
    always_.insert(op);
    always_error_ = error;
  }
  void disarm() {
    std::lock_guard lock(mutex_);
    nth_ = 0;
    always_.clear();
  }
  int count(Op op) const {
    std::lock_guard lock(mutex_);
    return counts_[static_cast<int>(op)];
  }
  // The next pwritev blocks until release(); wait_held() returns once it is blocked.
  void hold_next_write() {
    std::lock_guard lock(mutex_);
    hold_ = true;
    held_ = false;
  }
  void wait_held() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return held_; });
  }
  void release() {
    std::lock_guard lock(mutex_);
    hold_ = false;
    cv_.notify_all();
  }

  int open_new(const std::filesystem::path& path, int* fd) override {
    if (int e = check(Op::kOpenNew)) return e;
    return real().open_new(path, fd);
  }
  int write_all(int fd, std::string_view data) override {
    if (int e = check(Op::kWrite)) {
      real().write_all(fd, data.substr(0, data.size() / 2));  // a real failure writes some
      return e;
    }
    return real().write_all(fd, data);
  }
  int pwritev_all(int fd, std::span<const iovec> iov, std::uint64_t offset) override {
    {
      std::unique_lock lock(mutex_);
      if (hold_) {
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return !hold_; });
      }
    }
    if (int e = check(Op::kPwritev)) {
      // Like a disk that fills up midway: the first half of the batch reaches the file.
      std::size_t total = 0;
      for (const auto& v : iov) total += v.iov_len;
      std::size_t budget = total / 2;
      std::vector<iovec> part;
      for (const auto& v : iov) {
        if (budget == 0) break;
        const std::size_t take = std::min(budget, v.iov_len);
        part.push_back(iovec{v.iov_base, take});
        budget -= take;
      }
      real().pwritev_all(fd, part, offset);
      return e;
    }
    return real().pwritev_all(fd, iov, offset);
  }
  int fdatasync(int fd) override {
    if (int e = check(Op::kFdatasync)) return e;
    return real().fdatasync(fd);
  }
  int ftruncate(int fd, std::uint64_t size) override {
    if (int e = check(Op::kFtruncate)) return e;
    return real().ftruncate(fd, size);
  }
  int close(int fd) override {
    if (int e = check(Op::kClose)) {
      real().close(fd);  // close(2) releases the descriptor even when it reports an error
      return e;
    }
    return real().close(fd);
  }
  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    return real().rename(from, to);
  }
  int fsync_dir(const std::filesystem::path& dir) override {
    if (int e = check(Op::kFsyncDir)) return e;
    return real().fsync_dir(dir);
  }
  int unlink(const std::filesystem::path& path) override { return real().unlink(path); }

 private:
  static FileSystem& real() { return real_file_system(); }
  int check(Op op) {
    std::lock_guard lock(mutex_);
    ++counts_[static_cast<int>(op)];
    if (always_.contains(op)) return always_error_;
    if (nth_ > 0 && op == op_ && ++seen_ == nth_) return error_;
    return 0;
  }

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::array<int, static_cast<int>(Op::kCount)> counts_{};
  Op op_ = Op::kWrite;
  int nth_ = 0;
  int error_ = 0;
  int seen_ = 0;
  std::set<Op> always_;
  int always_error_ = 0;
  bool hold_ = false;
  bool held_ = false;
};

}  // namespace sealpost::queue::testing
