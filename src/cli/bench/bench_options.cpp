// `sealpost bench` options on CLI11, then the checks that span options (AUTH needs TLS unless
// the user insists on plaintext through --tls none, which we allow: it is a load generator).
#include "cli/bench/bench_options.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <map>

namespace sealpost::bench {

void add_bench_options(CLI::App& app, BenchOptions& o) {
  app.add_option("--server", o.server, "HOST:PORT to connect to ([v6]:PORT for IPv6)")
      ->capture_default_str();
  const std::map<std::string, TlsMode> modes{
      {"implicit", TlsMode::kImplicit}, {"starttls", TlsMode::kStartTls}, {"none", TlsMode::kNone}};
  app.add_option("--tls", o.tls, "implicit (SMTPS) | starttls | none")
      ->transform(CLI::CheckedTransformer(modes, CLI::ignore_case))
      ->default_str("implicit");
  app.add_option("-c,--concurrency", o.concurrency, "sessions open at once")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("-m,--messages", o.messages, "messages in total")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--per-conn", o.per_conn,
                 "messages per connection (1: a new connection, and TLS handshake, per message)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--size", o.size, "body size in octets, after the header block")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 30))
      ->capture_default_str();
  app.add_option("--rcpts", o.rcpts, "recipients per message")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  app.add_option("--from", o.from, "envelope sender")->capture_default_str();
  app.add_option("--to", o.to,
                 "recipient; repeat for several, used in turn (with one address and --rcpts R "
                 "the same address is given R times)")
      ->capture_default_str();
  app.add_option("--auth", o.auth, "USER:PASS for AUTH PLAIN after EHLO");
  app.add_flag("--resume", o.resume, "TLS session resumption: each worker reuses its last session");
  app.add_option("--duration", o.duration, "stop starting messages after SECONDS (0: no cap)")
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--ca", o.ca, "CA certificates (PEM) to verify the server against");
  app.add_flag("--insecure", o.insecure, "do not verify the server certificate");
  app.add_option("--sni", o.sni, "TLS server name, also the name verified (default: the host)");
  app.add_option("--threads", o.threads, "event loops (threads)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  app.add_flag("--pipelining", o.pipelining,
               "send MAIL, RCPT and DATA in one write when the server offers PIPELINING");
  app.add_flag("--json", o.json, "print the final line as a JSON object");
  app.add_option("--timeout", o.timeout, "seconds to wait for any reply or handshake")
      ->check(CLI::Range(0.001, 1e6))
      ->capture_default_str();
  app.add_option("--ehlo", o.ehlo, "EHLO name")->capture_default_str();
}

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& text) {
  std::string host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = std::string_view(text).substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = std::string_view(text).substr(colon + 1);
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
      value == 0 || value > 65535)
    return std::nullopt;
  return std::pair{host, static_cast<std::uint16_t>(value)};
}

std::optional<std::string> finish_options(BenchOptions& o) {
  auto hp = split_host_port(o.server);
  if (!hp) return "--server: expected HOST:PORT or [IPv6]:PORT, got \"" + o.server + "\"";
  o.host = hp->first;
  o.port = hp->second;
  if (!o.auth.empty()) {
    auto colon = o.auth.find(':');
    if (colon == std::string::npos || colon == 0) return std::string("--auth: expected USER:PASS");
    o.auth_user = o.auth.substr(0, colon);
    o.auth_password = o.auth.substr(colon + 1);
  }
  if (o.to.empty()) return std::string("--to: at least one recipient");
  // Addresses go into the command line verbatim: a CR or LF would inject commands.
  auto bad = [](const std::string& a) { return a.find_first_of("\r\n<>") != std::string::npos; };
  if (bad(o.from)) return std::string("--from: no CR, LF, < or >");
  for (const auto& t : o.to)
    if (t.empty() || bad(t)) return "--to: not a usable address: \"" + t + "\"";
  if (bad(o.ehlo) || o.ehlo.empty()) return std::string("--ehlo: not a usable name");
  if (o.tls == TlsMode::kNone && (!o.ca.empty() || o.insecure || !o.sni.empty() || o.resume))
    return std::string("--ca, --insecure, --sni and --resume need --tls implicit or starttls");
  if (o.insecure && !o.ca.empty()) return std::string("--ca and --insecure exclude each other");
  return std::nullopt;
}

}  // namespace sealpost::bench
