// `sealpost bench`: runs the load (--threads event loops, --concurrency workers spread over
// them, each opening connections until the messages run out or the duration cap passes),
// then prints one final line. Exit status: 0 when every message was accepted and nothing
// failed, 1 when anything failed, 2 when the run could not start (bad CA file, bad host).
#pragma once

#include <iosfwd>

#include "cli/bench/bench_options.hpp"
#include "cli/bench/latency_stats.hpp"

namespace sealpost::bench {

// The whole run; progress and failure reasons go to `err`, the final line to `out`.
int run_bench(const BenchOptions& options, std::ostream& out, std::ostream& err);

// The run itself, for callers that want the numbers rather than the line.
Summary run_load(const BenchOptions& options);

}  // namespace sealpost::bench
