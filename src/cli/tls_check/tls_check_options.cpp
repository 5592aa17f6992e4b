// Option registration and checks for `sealpost tls-check`. The target syntax is the one mail
// tools use: HOST, HOST:PORT, [IPv6]:PORT, or a bare IPv6 literal (then the port is the
// default); SNI never carries an IP literal (RFC 6066 §3).
#include "cli/tls_check/tls_check_options.hpp"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>

namespace sealpost::cli::tls_check {

namespace {

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::optional<int> parse_port(std::string_view text) {
  int port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port < 1 || port > 65535)
    return std::nullopt;
  return port;
}

// A host name or address as typed: no blanks, controls or characters no DNS name or address
// literal contains (a typo is reported here, not as a resolver error).
bool plausible_host(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  for (unsigned char c : host) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == ':' || c >= 0x80;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

void add_options(CLI::App& command, Options& o) {
  command.add_option("target", o.target, "HOST[:PORT] (default port 465, or 25 with --starttls)")
      ->required();
  auto* implicit =
      command.add_flag("--implicit", o.implicit, "TLS from the first byte (default; RFC 8314)");
  auto* starttls = command.add_flag("--starttls", o.starttls, "EHLO, STARTTLS, then TLS");
  implicit->excludes(starttls);
  command.add_option("--sni", o.sni_option, "server name to send and verify (default: HOST)");
  command
      .add_option("--ca", o.ca_file, "trust these CA certificates (PEM) instead of the system's")
      ->check(CLI::ExistingFile);
  auto* dane =
      command.add_flag("--dane", o.dane, "verify with TLSA records of _PORT._tcp.HOST (DNSSEC)");
  auto* tlsa = command
                   .add_option("--tlsa", o.tlsa_texts,
                               "verify with this TLSA record, \"U S M HEX\" (repeatable; no DNS)")
                   ->allow_extra_args(false);
  dane->excludes(tlsa);
  command
      .add_option("--dns-server", o.dns_servers,
                  "DNSSEC-validating resolver IP[@PORT] for --dane (repeatable)")
      ->allow_extra_args(false)
      ->needs(dane);
  command
      .add_option("--dns-trust-anchor", o.dns_trust_anchor,
                  "trust anchor file (DS/DNSKEY) for --dane (default: the root key)")
      ->check(CLI::ExistingFile)
      ->needs(dane);
  command.add_option("--helo", o.helo, "name to send in EHLO (default: this host's name)");
  command.add_flag("--json", o.json, "one JSON object on stdout");
  command.add_option("--timeout", o.timeout_seconds, "seconds for the whole check (default 30)");
}

std::optional<std::string> finish_options(Options& o) {
  o.start = o.starttls ? TlsStart::kStartTls : TlsStart::kImplicit;
  int default_port = o.start == TlsStart::kStartTls ? 25 : 465;
  std::string host = o.target;
  std::optional<int> port = default_port;
  if (!host.empty() && host.front() == '[') {  // [IPv6] or [IPv6]:PORT
    std::size_t close = host.find(']');
    if (close == std::string::npos) return "unbalanced [ in " + o.target;
    std::string rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) port = rest.front() == ':' ? parse_port(rest.substr(1)) : std::nullopt;
  } else if (std::count(host.begin(), host.end(), ':') == 1) {  // HOST:PORT
    std::size_t colon = host.find(':');
    port = parse_port(std::string_view(host).substr(colon + 1));
    host.resize(colon);
  }  // else HOST, or a bare IPv6 literal
  if (!port) return "bad port in " + o.target + " (1-65535)";
  if (!plausible_host(host)) return "bad host name \"" + host + "\"";
  o.host = host;
  o.port = *port;
  o.host_is_ip = is_ip_literal(host);
  if (o.host.find(':') != std::string::npos && !o.host_is_ip)
    return "bad address \"" + host + "\" (IPv6 as [ADDR]:PORT)";

  if (!o.sni_option.empty() && is_ip_literal(o.sni_option))
    return "--sni takes a host name; an IP address is never sent as SNI (RFC 6066 §3)";
  if (!o.sni_option.empty() && !plausible_host(o.sni_option))
    return "bad --sni name \"" + o.sni_option + "\"";
  // RFC 6066 §3: SNI carries no trailing dot; certificates do not either (RFC 6125 §6.2.1).
  std::string name = !o.sni_option.empty() ? o.sni_option : o.host;
  if (name.size() > 1 && name.ends_with('.')) name.pop_back();
  o.sni = !o.sni_option.empty() || !o.host_is_ip ? name : "";
  o.reference_name = name;

  if (o.dane && o.host_is_ip) return "--dane needs a host name (TLSA lives at _PORT._tcp.HOST)";
  for (const std::string& text : o.tlsa_texts) {
    auto record = tls::parse_tlsa(text);
    if (!record) return "--tlsa \"" + text + "\": " + record.error();
    o.tlsa.push_back(std::move(*record));
  }
  if (o.timeout_seconds < 1 || o.timeout_seconds > 3600) return "--timeout must be 1-3600 seconds";
  if (!o.helo.empty() && !plausible_host(o.helo)) return "bad --helo name \"" + o.helo + "\"";
  return std::nullopt;
}

std::chrono::seconds timeout(const Options& o) { return std::chrono::seconds(o.timeout_seconds); }

}  // namespace sealpost::cli::tls_check
