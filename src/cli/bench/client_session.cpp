// The dialogue as straight-line code: each step sends, reads one reply and checks its code.
// A failed step names itself ("RCPT 550", "DATA: read: timeout") in the failure reasons.
#include "cli/bench/client_session.hpp"

#include <openssl/evp.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/this_coro.hpp>

#include "cli/bench/client_connection.hpp"
#include "cli/bench/test_message.hpp"

namespace sealpost::bench {

using Clock = std::chrono::steady_clock;

bool RunPlan::claim() {
  if (Clock::now() >= stop_at) return false;
  std::uint64_t n = claimed.load(std::memory_order_relaxed);
  while (n < options->messages) {
    if (claimed.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

void prepare_plan(RunPlan& plan) {
  const BenchOptions& o = *plan.options;
  plan.tls_name = o.sni.empty() ? o.host : o.sni;
  plan.ehlo_line = "EHLO " + o.ehlo + "\r\n";
  if (!o.auth_user.empty()) {
    // RFC 4616: [authzid] NUL authcid NUL passwd.
    std::string raw = std::string(1, '\0') + o.auth_user + '\0' + o.auth_password;
    std::string b64(4 * ((raw.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                            reinterpret_cast<const unsigned char*>(raw.data()),
                            static_cast<int>(raw.size()));
    b64.resize(static_cast<std::size_t>(n));
    plan.auth_line = "AUTH PLAIN " + b64 + "\r\n";
  }
  plan.mail_line = "MAIL FROM:<" + o.from + ">\r\n";
  plan.rcpt_lines.clear();
  for (unsigned i = 0; i < o.rcpts; ++i)
    plan.rcpt_lines += "RCPT TO:<" + o.to[i % o.to.size()] + ">\r\n";
  plan.data = build_data(o.from, o.to.front(), o.size);
}

namespace {

// One connection's dialogue. Returns on the first failure (already counted) or after QUIT.
class Dialogue {
 public:
  Dialogue(RunPlan& plan, RunCounters& counters, SessionSlot& slot, ClientConnection& conn)
      : plan_(plan), o_(*plan.options), counters_(counters), slot_(slot), conn_(conn) {}

  asio::awaitable<void> run() {
    auto started = Clock::now();
    if (!co_await set_up()) co_return;
    counters_.connect_latency.add(Clock::now() - started);
    ++counters_.connections;
    if (conn_.session_reused()) ++counters_.resumed;
    for (std::uint64_t sent = 0;;) {
      if (!co_await send_message()) co_return;
      if (++sent >= o_.per_conn || !plan_.claim()) break;
    }
    if (!co_await step("QUIT\r\n", "QUIT", 221)) co_return;
    conn_.close();
  }

 private:
  asio::awaitable<bool> set_up() {
    if (Failure f = co_await conn_.connect(plan_.endpoint); !f.empty()) co_return fail(f);
    if (o_.tls == TlsMode::kImplicit && !co_await start_tls()) co_return false;
    if (!co_await expect("greeting", 220)) co_return false;
    if (!co_await step(plan_.ehlo_line, "EHLO", 250)) co_return false;
    if (o_.tls == TlsMode::kStartTls) {
      if (!co_await step("STARTTLS\r\n", "STARTTLS", 220)) co_return false;
      // RFC 3207 §4.2 (client side): nothing may follow the 220 in plaintext.
      if (conn_.reply_buffered()) co_return fail("STARTTLS: data after 220");
      if (!co_await start_tls()) co_return false;
      if (!co_await step(plan_.ehlo_line, "EHLO", 250)) co_return false;
    }
    pipelining_ = o_.pipelining && has_extension(reply_, "PIPELINING");
    if (!plan_.auth_line.empty() && !co_await step(plan_.auth_line, "AUTH", 235)) co_return false;
    co_return true;
  }

  asio::awaitable<bool> start_tls() {
    if (Failure f = co_await conn_.handshake(plan_.tls->new_ssl(plan_.tls_name, &slot_));
        !f.empty())
      co_return fail(f);
    co_return true;
  }

  asio::awaitable<bool> send_message() {
    auto started = Clock::now();
    if (pipelining_) {
      // RFC 2920 §3.1: MAIL, RCPT and DATA may go in one group; DATA ends it.
      std::string group = plan_.mail_line + plan_.rcpt_lines + "DATA\r\n";
      if (Failure f = co_await conn_.write(group); !f.empty()) co_return fail("MAIL: " + f);
      if (!co_await expect("MAIL", 250)) co_return false;
      for (unsigned i = 0; i < o_.rcpts; ++i)
        if (!co_await expect("RCPT", 250, 251)) co_return false;
      if (!co_await expect("DATA", 354)) co_return false;
    } else {
      if (!co_await step(plan_.mail_line, "MAIL", 250)) co_return false;
      std::string_view rcpts = plan_.rcpt_lines;
      while (!rcpts.empty()) {
        auto end = rcpts.find('\n') + 1;
        if (!co_await step(rcpts.substr(0, end), "RCPT", 250, 251)) co_return false;
        rcpts.remove_prefix(end);
      }
      if (!co_await step("DATA\r\n", "DATA", 354)) co_return false;
    }
    if (!co_await step(plan_.data, "end of data", 250)) co_return false;
    counters_.message_latency.add(Clock::now() - started);
    ++counters_.messages;
    co_return true;
  }

  // Sends `line`, reads a reply, checks its code.
  asio::awaitable<bool> step(std::string_view line, const char* what, int code, int alt = 0) {
    if (Failure f = co_await conn_.write(line); !f.empty())
      co_return fail(std::string(what) + ": " + f);
    co_return co_await expect(what, code, alt);
  }

  asio::awaitable<bool> expect(const char* what, int code, int alt = 0) {
    if (Failure f = co_await conn_.read_reply(reply_); !f.empty())
      co_return fail(std::string(what) + ": " + f);
    if (reply_.code != code && (alt == 0 || reply_.code != alt))
      co_return fail(std::string(what) + " " + std::to_string(reply_.code));
    co_return true;
  }

  bool fail(const std::string& reason) {
    counters_.fail(reason);
    conn_.close();
    return false;
  }

  RunPlan& plan_;
  const BenchOptions& o_;
  RunCounters& counters_;
  SessionSlot& slot_;
  ClientConnection& conn_;
  ServerReply reply_;
  bool pipelining_ = false;
};

}  // namespace

asio::awaitable<void> run_connection(RunPlan& plan, RunCounters& counters, SessionSlot& slot) {
  using namespace asio::experimental::awaitable_operators;
  auto executor = co_await asio::this_coro::executor;
  auto timeout = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(plan.options->timeout));
  ClientConnection conn(executor, timeout);
  Dialogue dialogue(plan, counters, slot, conn);
  co_await (dialogue.run() || conn.watchdog());
}

}  // namespace sealpost::bench
