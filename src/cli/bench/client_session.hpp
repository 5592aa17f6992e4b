// One load-generator connection's SMTP dialogue, top to bottom: connect, (TLS), greeting,
// EHLO, (STARTTLS, TLS, EHLO), (AUTH PLAIN), then MAIL, RCPT..., DATA, message, "." for each
// message it may claim, then QUIT. Every reply is checked against the one code that step
// expects (RCPT also takes 251, RFC 5321 §3.4); anything else is a failure with a reason, and
// the connection is dropped. Latency: MAIL sent .. final 250; set-up: connect .. ready for MAIL.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "cli/bench/bench_options.hpp"
#include "cli/bench/latency_stats.hpp"
#include "cli/bench/tls_client.hpp"

namespace sealpost::bench {

// What every session of a run shares: read-only after start, except the atomic claim counter.
struct RunPlan {
  const BenchOptions* options = nullptr;
  asio::ip::tcp::endpoint endpoint;
  const TlsClient* tls = nullptr;  // null with --tls none
  std::string tls_name;            // SNI / verified name (--sni, else the host)
  std::string ehlo_line;           // "EHLO name\r\n"
  std::string auth_line;           // "AUTH PLAIN <base64>\r\n", or empty
  std::string mail_line;           // "MAIL FROM:<from>\r\n"
  std::string rcpt_lines;          // R lines "RCPT TO:<to>\r\n"
  std::string data;                // message + ".\r\n"
  std::chrono::steady_clock::time_point stop_at = std::chrono::steady_clock::time_point::max();
  std::atomic<std::uint64_t> claimed{0};

  // Hands out the next message, or false when all are handed out or the duration cap passed.
  bool claim();
};

// Fills the protocol lines of `plan` from its options (AUTH PLAIN per RFC 4616).
void prepare_plan(RunPlan& plan);

// Runs one connection; the caller has already claimed its first message. Counts into
// `counters`; `slot` keeps the worker's TLS session for --resume.
asio::awaitable<void> run_connection(RunPlan& plan, RunCounters& counters, SessionSlot& slot);

}  // namespace sealpost::bench
