// Latency samples and the run's summary: nearest-rank percentiles over every sample (no
// histogram buckets: a bench run holds at most a few million), and the one final line that
// `sealpost bench` prints, as text or as JSON. No clock and no I/O here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sealpost::bench {

class LatencyStats {
 public:
  void add(std::chrono::nanoseconds sample) { samples_.push_back(sample.count()); }
  void merge(const LatencyStats& other);
  std::size_t count() const { return samples_.size(); }
  // Nearest rank (the smallest sample with at least p% of samples at or below it), in
  // milliseconds; 0 without samples. p in [0, 100]. Sorts lazily.
  double percentile_ms(double p) const;
  double max_ms() const { return percentile_ms(100); }

 private:
  mutable std::vector<std::int64_t> samples_;  // nanoseconds
  mutable bool sorted_ = true;
};

// Everything a worker counts; merged across workers at the end.
struct RunCounters {
  std::uint64_t messages = 0;     // accepted: the final 250 after the message data arrived
  std::uint64_t failures = 0;     // every unexpected reply, I/O error or timeout
  std::uint64_t connections = 0;  // set up completely (greeting .. EHLO/AUTH done)
  std::uint64_t resumed = 0;      // of those, TLS sessions resumed
  std::map<std::string, std::uint64_t> failure_reasons;  // "RCPT 550", "connect: ..." -> n
  LatencyStats message_latency;                          // MAIL FROM sent .. final 250 received
  LatencyStats connect_latency;  // connect() started .. ready for MAIL (after EHLO/AUTH)

  void fail(const std::string& reason) {
    ++failures;
    ++failure_reasons[reason];
  }
  void merge(const RunCounters& other);
};

struct Summary {
  RunCounters counters;
  double elapsed_s = 0;
};

// messages=N failures=F elapsed=S msgs/s=X p50_ms=A p99_ms=B conn_p50_ms=C
std::string format_line(const Summary& s);
// The same and more (p90, max, connection p99, resumed, failure reasons) as one JSON line.
std::string format_json(const Summary& s);

}  // namespace sealpost::bench
