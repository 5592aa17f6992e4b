// `sealpost bench` options: what the load generator is told to do, registered on a CLI11
// subcommand and then checked and completed (host:port split, AUTH user:pass split). No I/O
// here; the driver (bench_driver.hpp) reads the finished struct.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sealpost::bench {

enum class TlsMode { kImplicit, kStartTls, kNone };

struct BenchOptions {
  std::string server = "127.0.0.1:465";  // HOST:PORT, [IPv6]:PORT
  TlsMode tls = TlsMode::kImplicit;
  unsigned concurrency = 1;      // sessions open at once
  std::uint64_t messages = 100;  // total, over all sessions
  std::uint64_t per_conn = 1;    // messages per connection; 1 = a new connection per message
  std::size_t size = 1024;       // body octets (after the header block)
  unsigned rcpts = 1;            // RCPT TO per message
  std::string from = "bench@example.org";
  // Recipients, used in turn: recipient i of a message is to[i % to.size()]; with one address
  // and --rcpts > 1 the same address is given R times (the server may collapse duplicates).
  std::vector<std::string> to = {"demo@localhost"};
  std::string auth;     // "user:pass" for AUTH PLAIN; empty = no AUTH
  bool resume = false;  // reuse the last TLS session (ticket) per worker
  double duration = 0;  // seconds; 0 = no cap. Starts no new message after it.
  std::string ca;       // CA file; verification is on unless --insecure
  bool insecure = false;
  std::string sni;          // TLS server name and the name verified; default: the host
  unsigned threads = 1;     // event loops
  bool pipelining = false;  // RFC 2920: MAIL, RCPT..., DATA in one write when offered
  bool json = false;        // the final line as one JSON object
  double timeout = 30;      // seconds per reply or handshake before a session fails
  std::string ehlo = "bench.sealpost.invalid";

  // Filled by finish_options().
  std::string host;
  std::uint16_t port = 0;
  std::string auth_user, auth_password;
};

// Registers the options above on `app` (the `bench` subcommand), writing into `options`.
void add_bench_options(CLI::App& app, BenchOptions& options);

// Checks what CLI11 cannot and fills the derived fields. Returns an error text, or nothing.
std::optional<std::string> finish_options(BenchOptions& options);

// "host:port", "[v6]:port" -> host (without brackets) and port. Nothing if malformed.
std::optional<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& text);

}  // namespace sealpost::bench
