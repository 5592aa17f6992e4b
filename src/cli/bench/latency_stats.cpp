// Percentiles and the final line. Rates divide by the wall-clock time of the whole run.
#include "cli/bench/latency_stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

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

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

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
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"messages\":%llu,\"failures\":%llu,\"elapsed_s\":%.3f,\"msgs_per_s\":%.1f,"
                "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                "\"conn_p50_ms\":%.3f,\"conn_p99_ms\":%.3f,\"connections\":%llu,"
                "\"resumed\":%llu,\"failure_reasons\":{",
                static_cast<unsigned long long>(c.messages),
                static_cast<unsigned long long>(c.failures), s.elapsed_s, rate(s),
                c.message_latency.percentile_ms(50), c.message_latency.percentile_ms(90),
                c.message_latency.percentile_ms(99), c.message_latency.max_ms(),
                c.connect_latency.percentile_ms(50), c.connect_latency.percentile_ms(99),
                static_cast<unsigned long long>(c.connections),
                static_cast<unsigned long long>(c.resumed));
  std::string out = buf;
  bool first = true;
  for (const auto& [reason, n] : c.failure_reasons) {
    if (!first) out += ',';
    first = false;
    out += json_string(reason) + ":" + std::to_string(n);
  }
  return out + "}}";
}

}  // namespace sealpost::bench
