// BatchedLogSink: lines arrive whole and in order, info lines within the batch delay, a
// warning at once together with what came before it, and nothing is lost at destruction.
#include "daemon/log_sink.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sealpost::daemon {
namespace {

using namespace std::chrono_literals;

// A pipe whose read end the test drains without blocking.
struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    EXPECT_EQ(::pipe(fds), 0);
    ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  // What has arrived within `wait`, or as soon as `want` bytes have.
  std::string read_for(std::chrono::milliseconds wait, std::size_t want = SIZE_MAX) {
    std::string out;
    auto until = std::chrono::steady_clock::now() + wait;
    for (;;) {
      char buf[4096];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() >= want) return out;
        continue;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left <= 0ms) return out;
      pollfd p{fds[0], POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
  }
};

std::shared_ptr<spdlog::logger> make_logger(int fd, std::chrono::milliseconds delay) {
  auto logger =
      std::make_shared<spdlog::logger>("test", std::make_shared<BatchedLogSink>(fd, delay));
  logger->set_pattern("%l %v");
  logger->flush_on(spdlog::level::warn);
  return logger;
}

TEST(BatchedLogSink, InfoLinesArriveTogetherAfterTheDelay) {
  Pipe pipe;
  auto logger = make_logger(pipe.fds[1], 50ms);
  logger->info("one");
  logger->info("two {}", 2);
  EXPECT_EQ(pipe.read_for(0ms), "");  // held for company
  const std::string expected = "info one\ninfo two 2\n";
  EXPECT_EQ(pipe.read_for(5s, expected.size()), expected);
}

TEST(BatchedLogSink, WarningIsWrittenAtOnceAfterEarlierLines) {
  Pipe pipe;
  auto logger = make_logger(pipe.fds[1], 10s);  // the writer thread never gets to it
  logger->info("queued");
  logger->warn("disk nearly full");
  EXPECT_EQ(pipe.read_for(0ms), "info queued\nwarning disk nearly full\n");
}

TEST(BatchedLogSink, DestructionWritesWhatIsLeftWithoutWaitingOutTheDelay) {
  Pipe pipe;
  auto start = std::chrono::steady_clock::now();
  {
    auto logger = make_logger(pipe.fds[1], 10s);
    logger->info("last words");
    std::this_thread::sleep_for(50ms);  // the writer thread is in its delay by now
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(pipe.read_for(0ms), "info last words\n");
}

TEST(BatchedLogSink, WritePendingIfFreeWritesAtOnceForADyingProcess) {
  Pipe pipe;
  auto sink = std::make_shared<BatchedLogSink>(pipe.fds[1], 10s);
  spdlog::logger logger("test", sink);
  logger.set_pattern("%l %v");
  logger.info("before the terminate");
  sink->write_pending_if_free();
  EXPECT_EQ(pipe.read_for(0ms), "info before the terminate\n");
}

// stderr that nobody reads for a while (a stalled journald, a full pipe) blocks the writer
// thread's write(2); the threads that log must not wait for it.
TEST(BatchedLogSink, AWriterStuckOnAFullPipeDoesNotStopTheLoggers) {
  Pipe pipe;
  const int flags = ::fcntl(pipe.fds[1], F_GETFL);
  ::fcntl(pipe.fds[1], F_SETFL, flags | O_NONBLOCK);
  std::size_t filler = 0;
  const std::string block(4096, 'f');
  for (ssize_t n; (n = ::write(pipe.fds[1], block.data(), block.size())) > 0;)
    filler += static_cast<std::size_t>(n);
  ::fcntl(pipe.fds[1], F_SETFL, flags);  // full, and blocking again
  std::string text;
  {
    auto logger = make_logger(pipe.fds[1], 1ms);
    logger->info("first");
    std::this_thread::sleep_for(50ms);  // the writer thread now sits in write(2)
    std::atomic<bool> done = false;
    std::thread more([&] {
      for (int i = 0; i < 100; ++i) logger->info("more {:03}", i);
      done = true;
    });
    const auto until = std::chrono::steady_clock::now() + 2s;
    while (!done && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
    EXPECT_TRUE(done) << "a logging thread waited for the blocked writer";
    // Drained now: everything arrives, in order, after the filler.
    const std::size_t want = filler + 11 + 100 * 14;
    while (text.size() < want && std::chrono::steady_clock::now() < until + 5s)
      text += pipe.read_for(10ms, want - text.size());
    more.join();
  }
  text += pipe.read_for(0ms);
  ASSERT_GE(text.size(), filler);
  std::string expected = "info first\n";
  for (int i = 0; i < 100; ++i)
    expected += "info more " +
                std::string(i < 10    ? "00"
                            : i < 100 ? "0"
                                      : "") +
                std::to_string(i) + "\n";
  EXPECT_EQ(text.substr(filler), expected);
}

TEST(BatchedLogSink, ManyThreadsLoseNoLineAndSplitNone) {
  Pipe pipe;
  constexpr int kThreads = 4, kLines = 2000;  // > 64 KiB in all: the size cap writes too
  std::string text;
  {
    auto logger = make_logger(pipe.fds[1], 1ms);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&logger, t] {
        for (int i = 0; i < kLines; ++i) logger->info("thread {} line {:04} {}", t, i, 'x');
      });
    }
    // Drained while they log: a pipe holds only 64 KiB.
    auto until = std::chrono::steady_clock::now() + 20s;
    while (text.size() < std::size_t{kThreads} * kLines * 26 &&
           std::chrono::steady_clock::now() < until)
      text += pipe.read_for(10ms);
    for (auto& t : threads) t.join();
  }
  text += pipe.read_for(0ms);
  std::vector<int> next(kThreads, 0);
  std::size_t pos = 0, lines = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    ASSERT_NE(end, std::string::npos);
    std::string line = text.substr(pos, end - pos);
    int t = -1, i = -1;
    char x = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "info thread %d line %d %c", &t, &i, &x), 3) << line;
    ASSERT_TRUE(t >= 0 && t < kThreads);
    EXPECT_EQ(i, next[t]++);  // each thread's lines in its order
    EXPECT_EQ(x, 'x');
    pos = end + 1;
    ++lines;
  }
  EXPECT_EQ(lines, std::size_t{kThreads} * kLines);
}

}  // namespace
}  // namespace sealpost::daemon
