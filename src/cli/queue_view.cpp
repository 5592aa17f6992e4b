// Queue listing: one line per message (id, arrival time, size, sender, recipients), or JSON.
// Reads the spool log with the read-only scanner, so it works with or without the daemon.
#include "cli/queue_view.hpp"

#include <ctime>
#include <filesystem>
#include <iostream>
#include <vector>

#include "queue/queue_id.hpp"
#include "queue/spool_scan.hpp"

namespace sealpost::cli {

namespace {

std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

std::string arrival(const std::string& id) {
  auto micros = queue::queue_id_micros(id);
  if (!micros) return "-";
  std::time_t t = static_cast<std::time_t>(*micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

int queue_list(const config::Config& config, bool json, std::ostream& out) {
  queue::ScanOptions options;
  options.envelopes = true;
  options.log_problems = false;  // the daemon may be appending a batch right now
  const auto scan = queue::scan_spool(config.spool_dir(), options);
  if (json) out << "[";
  bool first = true;
  for (const auto& m : scan.live) {
    const std::string id = m.key.id();
    if (json) {
      out << (first ? "" : ",") << "\n  {\"id\":\"" << id << "\",\"arrival\":\"" << arrival(id)
          << "\",\"size\":" << m.size << ",\"from\":\"" << json_escape(m.envelope.reverse_path)
          << "\",\"to\":[";
      for (std::size_t i = 0; i < m.envelope.recipients.size(); ++i)
        out << (i ? "," : "") << "\"" << json_escape(m.envelope.recipients[i]) << "\"";
      out << "]}";
    } else {
      out << id << "  " << arrival(id) << "  " << m.size << "  <" << m.envelope.reverse_path
          << ">\n";
      for (const auto& r : m.envelope.recipients) out << "    <" << r << ">\n";
    }
    first = false;
  }
  if (json) out << (first ? "]\n" : "\n]\n");
  if (!json && first) out << "queue is empty\n";
  return 0;
}

int queue_show(const config::Config& config, const std::string& id, std::ostream& out) {
  if (!queue::is_valid_queue_id(id)) {
    std::cerr << "sealpost: not a queue id: " << id << "\n";
    return 64;  // EX_USAGE
  }
  queue::ScanOptions options;
  options.log_problems = false;
  auto m = queue::read_queued(config.spool_dir(), id, options);
  if (!m) {
    std::cerr << "sealpost: " << id << ": not in the queue\n";
    return 1;
  }
  out << "id: " << id << "\nfrom: <" << m->envelope.reverse_path << ">\n";
  for (const auto& r : m->envelope.recipients) out << "to: <" << r << ">\n";
  out << "\n" << m->content;
  return 0;
}

}  // namespace sealpost::cli
