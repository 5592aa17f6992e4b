// Threads and workers. Each worker is a coroutine on one io_context with its own counters
// and TLS session slot, so nothing but the message claim counter is shared while running.
#include "cli/bench/bench_driver.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "cli/bench/client_session.hpp"

namespace sealpost::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Worker {
  RunCounters counters;
  SessionSlot slot;
};

asio::awaitable<void> run_worker(RunPlan& plan, Worker& worker) {
  while (plan.claim()) co_await run_connection(plan, worker.counters, worker.slot);
}

asio::ip::tcp::endpoint resolve(const BenchOptions& o) {
  std::error_code ec;
  auto address = asio::ip::make_address(o.host, ec);
  if (!ec) return {address, o.port};
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  auto results = resolver.resolve(o.host, std::to_string(o.port), ec);
  if (ec || results.empty())
    throw std::runtime_error("cannot resolve " + o.host + ": " +
                             (ec ? ec.message() : std::string("no address")));
  return *results.begin();
}

}  // namespace

Summary run_load(const BenchOptions& options) {
  RunPlan plan;
  plan.options = &options;
  plan.endpoint = resolve(options);
  std::unique_ptr<TlsClient> tls;
  if (options.tls != TlsMode::kNone) {
    tls = std::make_unique<TlsClient>(options.ca, options.insecure, options.resume);
    plan.tls = tls.get();
  }
  prepare_plan(plan);

  std::vector<std::unique_ptr<asio::io_context>> loops;
  for (unsigned i = 0; i < options.threads; ++i)
    loops.push_back(std::make_unique<asio::io_context>(1));
  std::deque<Worker> workers(options.concurrency);  // stable addresses

  auto started = Clock::now();
  if (options.duration > 0)
    plan.stop_at = started + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(options.duration));
  for (std::size_t i = 0; i < workers.size(); ++i) {
    Worker& w = workers[i];
    asio::co_spawn(*loops[i % loops.size()], run_worker(plan, w), [&w](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        w.counters.fail(std::string("internal: ") + x.what());
      }
    });
  }
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < loops.size(); ++i)
    threads.emplace_back([&loop = *loops[i]] { loop.run(); });
  loops[0]->run();
  for (auto& t : threads) t.join();

  Summary summary;
  summary.elapsed_s = std::chrono::duration<double>(Clock::now() - started).count();
  for (const Worker& w : workers) summary.counters.merge(w.counters);
  return summary;
}

int run_bench(const BenchOptions& options, std::ostream& out, std::ostream& err) {
  Summary summary;
  try {
    summary = run_load(options);
  } catch (const std::exception& e) {
    err << "sealpost bench: " << e.what() << "\n";
    return 2;
  }
  for (const auto& [reason, n] : summary.counters.failure_reasons)
    err << "sealpost bench: " << n << " x " << reason << "\n";
  out << (options.json ? format_json(summary) : format_line(summary)) << std::endl;
  bool complete = summary.counters.messages == options.messages || options.duration > 0;
  if (!complete && summary.counters.failures == 0) {
    // Cannot happen: every claimed message ends accepted or failed. Say so if it ever does.
    err << "sealpost bench: " << summary.counters.messages << " of " << options.messages
        << " messages accepted without a failure counted\n";
    return 1;
  }
  return summary.counters.failures == 0 ? 0 : 1;
}

}  // namespace sealpost::bench
