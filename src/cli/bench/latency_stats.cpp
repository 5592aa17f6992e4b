// Percentiles and the final line. Rates divide by the wall-clock time of the whole run.
#include "cli/bench/latency_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

namespace sealpost::bench {

void LatencyStats::merge(const LatencyStats& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = samples_.size() <= 1;
}

double LatencyStats::percentile_ms(double p) const {
  if (samples_.empty()) return 0;
  if (!sorted_ || !std::is_sorted(samples_.begin(), samples_.end())) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  p = std::clamp(p, 0.0, 100.0);
  auto n = samples_.size();
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  std::size_t index = rank == 0 ? 0 : rank - 1;
  return static_cast<double>(samples_[std::min(index, n - 1)]) / 1e6;
}

void RunCounters::merge(const RunCounters& other) {
  messages += other.messages;
  failures += other.failures;
  connections += other.connections;
  resumed += other.resumed;
  for (const auto& [reason, n] : other.failure_reasons) failure_reasons[reason] += n;
  message_latency.merge(other.message_latency);
  connect_latency.merge(other.connect_latency);
}

namespace {

double rate(const Summary& s) {
  return s.elapsed_s > 0 ? static_cast<double>(s.counters.messages) / s.elapsed_s : 0;
}

// Milliseconds as printed on the final line: three decimals.
double ms3(double v) { return std::round(v * 1000) / 1000; }

}  // namespace

std::string format_line(const Summary& s) {
  const RunCounters& c = s.counters;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "messages=%llu failures=%llu elapsed=%.3f msgs/s=%.1f p50_ms=%.3f p99_ms=%.3f "
                "conn_p50_ms=%.3f",
                static_cast<unsigned long long>(c.messages),
                static_cast<unsigned long long>(c.failures), s.elapsed_s, rate(s),
                c.message_latency.percentile_ms(50), c.message_latency.percentile_ms(99),
                c.connect_latency.percentile_ms(50));
  return buf;
}

std::string format_json(const Summary& s) {
  const RunCounters& c = s.counters;
  nlohmann::ordered_json j = {
      {"messages", c.messages},
      {"failures", c.failures},
      {"elapsed_s", ms3(s.elapsed_s)},
      {"msgs_per_s", std::round(rate(s) * 10) / 10},
      {"p50_ms", ms3(c.message_latency.percentile_ms(50))},
      {"p90_ms", ms3(c.message_latency.percentile_ms(90))},
      {"p99_ms", ms3(c.message_latency.percentile_ms(99))},
      {"max_ms", ms3(c.message_latency.max_ms())},
      {"conn_p50_ms", ms3(c.connect_latency.percentile_ms(50))},
      {"conn_p99_ms", ms3(c.connect_latency.percentile_ms(99))},
      {"connections", c.connections},
      {"resumed", c.resumed},
      {"failure_reasons", nlohmann::ordered_json::object()},
  };
  for (const auto& [reason, n] : c.failure_reasons) j["failure_reasons"][reason] = n;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace sealpost::bench
