// Reads sealpost.toml with toml++ into config::Config, checking every key, type and value and
// naming file:line:key on failure; also the embedded dev default and the TOML printer.
// Leaves certificate parsing and directory creation to the tls and queue modules.
#include "config/config_loader.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

#define TOML_HEADER_ONLY 0  // link libtomlplusplus.so instead of compiling the parser here
#include <toml++/toml.h>

namespace sealpost::config {

namespace {

namespace fs = std::filesystem;

std::string format_error(const std::string& file, int line, const std::string& key,
                         const std::string& message) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequal(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

int line_of(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

// LDH labels (RFC 1035 2.3.1, RFC 1123 2.1); internationalised names must be A-labels.
bool is_domain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view label = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Dot-atom local part (RFC 5322 3.2.3) plus UTF-8 (RFC 6531 3.3); no quoted strings.
bool is_local_part(std::string_view s) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  if (s.empty() || s.size() > 64 || s.front() == '.' || s.back() == '.') return false;
  if (s.find("..") != std::string_view::npos) return false;
  return std::ranges::all_of(s, [](char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || u >= 0x80 || c == '.' || kSpecials.find(c) != kSpecials.npos;
  });
}

struct Endpoint {
  std::string address;  // canonical text form, no brackets
  std::uint16_t port = 0;
};

// "IPv4:port" or "[IPv6]:port". Names are not resolved: a listener binds what it says.
std::expected<Endpoint, std::string> parse_endpoint(std::string_view text) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return std::unexpected("expected \"IPv4:port\" or \"[IPv6]:port\"");
  }
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  int family = AF_INET;
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') return std::unexpected("missing ']' after the IPv6 address");
    host = host.substr(1, host.size() - 2);
    family = AF_INET6;
  } else if (host.find(':') != std::string::npos) {
    return std::unexpected("IPv6 addresses go in brackets: \"[" + host +
                           "]:" + std::string(port_text) + "\"");
  }
  unsigned char binary[sizeof(in6_addr)];
  if (inet_pton(family, host.c_str(), binary) != 1) {
    return std::unexpected("\"" + host + "\" is not an IP" + (family == AF_INET ? "v4" : "v6") +
                           " address (host names are not accepted)");
  }
  char canonical[INET6_ADDRSTRLEN];
  inet_ntop(family, binary, canonical, sizeof canonical);

  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size()) {
    return std::unexpected("port \"" + std::string(port_text) + "\" is not a number");
  }
  if (port == 0 || port > 65535) return std::unexpected("port must be between 1 and 65535");
  return Endpoint{canonical, static_cast<std::uint16_t>(port)};
}

bool is_ip_literal(std::string_view text) {
  std::string s(text);
  unsigned char binary[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), binary) == 1 || inet_pton(AF_INET6, s.c_str(), binary) == 1;
}

std::string endpoint_text(const Listener& l) {
  bool v6 = l.address.find(':') != std::string::npos;
  return (v6 ? "[" + l.address + "]" : l.address) + ":" + std::to_string(l.port);
}

constexpr std::pair<std::string_view, TlsMode> kTlsModes[] = {
    {"implicit", TlsMode::kImplicit},
    {"starttls", TlsMode::kStartTls},
    {"require-starttls", TlsMode::kRequireStartTls},
    {"none", TlsMode::kNone},
};
constexpr std::pair<std::string_view, Role> kRoles[] = {
    {"submission", Role::kSubmission},
    {"mx", Role::kMx},
};
constexpr std::string_view kLogLevels[] = {"trace", "debug", "info", "warn", "error"};

template <typename T, std::size_t N>
std::string_view name_of(const std::pair<std::string_view, T> (&table)[N], T value) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename Range>
std::string one_of(const Range& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    if constexpr (requires { n.first; }) {
      out += n.first;
    } else {
      out += n;
    }
  }
  return out;
}

// Walks the parsed document; every failure throws ConfigError with the node's line.
class Reader {
 public:
  Reader(std::string file, fs::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  Config read(const toml::table& root);

 private:
  [[noreturn]] void fail(int line, const std::string& key, std::string message) const {
    throw ConfigError(file_, line, key, std::move(message));
  }

  static std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }

  // Strictness is the point: a misspelt key would otherwise silently keep its default.
  void check_keys(const toml::table& table, const std::string& path,
                  std::initializer_list<std::string_view> allowed) const {
    const toml::key* unknown = nullptr;
    for (const auto& [key, node] : table) {
      if (std::ranges::find(allowed, key.str()) != allowed.end()) continue;
      if (!unknown || key.source().begin < unknown->source().begin) unknown = &key;
    }
    if (unknown) {
      fail(static_cast<int>(unknown->source().begin.line), join(path, unknown->str()),
           "unknown key (expected one of: " + one_of(allowed) + ")");
    }
  }

  const toml::table& as_table(const toml::node& node, const std::string& key) const {
    if (!node.is_table())
      fail(line_of(node), key, "expected a table, got " + std::string(type_name(node)));
    return *node.as_table();
  }

  const toml::array& as_array(const toml::node& node, const std::string& key) const {
    if (!node.is_array())
      fail(line_of(node), key, "expected an array, got " + std::string(type_name(node)));
    return *node.as_array();
  }

  std::string as_string(const toml::node& node, const std::string& key,
                        bool allow_empty = false) const {
    if (!node.is_string())
      fail(line_of(node), key, "expected a string, got " + std::string(type_name(node)));
    const std::string& s = node.as_string()->get();
    if (s.empty() && !allow_empty) fail(line_of(node), key, "must not be empty");
    return s;
  }

  std::int64_t as_integer(const toml::node& node, const std::string& key, std::int64_t min,
                          std::int64_t max) const {
    if (!node.is_integer())
      fail(line_of(node), key, "expected an integer, got " + std::string(type_name(node)));
    std::int64_t v = node.as_integer()->get();
    if (v < min || v > max) {
      fail(line_of(node), key,
           "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return v;
  }

  // A string or an array of strings; each element keeps its own line for later errors.
  std::vector<std::pair<std::string, int>> as_strings(const toml::node& node,
                                                      const std::string& key) const {
    std::vector<std::pair<std::string, int>> out;
    if (node.is_string()) {
      out.emplace_back(as_string(node, key), line_of(node));
      return out;
    }
    if (!node.is_array()) {
      fail(line_of(node), key,
           "expected a string or an array of strings, got " + std::string(type_name(node)));
    }
    const toml::array& array = *node.as_array();
    for (std::size_t i = 0; i < array.size(); ++i) {
      std::string element_key = key + "[" + std::to_string(i) + "]";
      out.emplace_back(as_string(array[i], element_key), line_of(array[i]));
    }
    return out;
  }

  bool as_bool(const toml::node& node, const std::string& key) const {
    if (!node.is_boolean())
      fail(line_of(node), key, "expected a boolean, got " + std::string(type_name(node)));
    return node.as_boolean()->get();
  }

  fs::path resolve(const fs::path& p) const {
    return p.is_relative() && !base_dir_.empty() ? base_dir_ / p : p;
  }

  template <typename T, std::size_t N>
  T as_enum(const toml::node& node, const std::string& key,
            const std::pair<std::string_view, T> (&table)[N]) const {
    std::string s = as_string(node, key, true);
    for (const auto& [name, value] : table) {
      if (name == s) return value;
    }
    fail(line_of(node), key, "\"" + s + "\" is not one of: " + one_of(table));
  }

  void read_pki(const toml::node& node, Config& config) const;
  void read_listeners(const toml::node& node, Config& config) const;
  void read_domains(const toml::node& node, Config& config) const;
  void read_mailboxes(const toml::node& node, Config& config) const;
  void read_limits(const toml::node& node, Limits& limits) const;
  void read_accounts(const toml::node& node, Accounts& accounts) const;
  void read_auth(const toml::node& node, AuthThrottle& auth) const;
  void read_dns(const toml::node& node, Dns& dns) const;
  void read_outbound(const toml::node& node, Outbound& outbound) const;
  void read_connection_reuse(const toml::table& t, Outbound& outbound) const;
  void read_queue(const toml::node& node, QueueTiming& queue) const;
  void read_relay(const toml::node& node, Relay& relay) const;
  void read_delivery(const toml::node& node, Delivery& delivery) const;
  LmtpTarget read_lmtp_target(const toml::node& node, const std::string& key) const;
  std::vector<std::string> read_policy_chain(const toml::node& node, const std::string& key) const;

  std::string file_;
  fs::path base_dir_;
};

Config Reader::read(const toml::table& root) {
  check_keys(
      root, "",
      {"hostname", "state_dir", "threads", "log_level", "postmaster", "pki", "listen", "domains",
       "mailbox", "limits", "accounts", "auth", "dns", "outbound", "relay", "queue", "delivery"});
  Config config;
  config.source = file_;

  if (const toml::node* n = root.get("hostname")) {
    config.hostname = as_string(*n, "hostname");
    // The name goes into the greeting and EHLO (RFC 5321 4.1.4): it must be a domain.
    if (!is_domain(config.hostname)) fail(line_of(*n), "hostname", "not a valid domain name");
  }
  config.state_dir = resolve(config.state_dir);
  if (const toml::node* n = root.get("state_dir"))
    config.state_dir = resolve(as_string(*n, "state_dir"));
  if (const toml::node* n = root.get("threads")) {
    config.threads = static_cast<unsigned>(as_integer(*n, "threads", 0, 1024));
  }
  if (const toml::node* n = root.get("log_level")) {
    config.log_level = as_string(*n, "log_level");
    if (std::ranges::find(kLogLevels, config.log_level) == std::end(kLogLevels)) {
      fail(line_of(*n), "log_level",
           "\"" + config.log_level + "\" is not one of: " + one_of(kLogLevels));
    }
  }
  if (const toml::node* n = root.get("pki")) read_pki(*n, config);
  if (const toml::node* n = root.get("listen")) {
    read_listeners(*n, config);
  } else {
    fail(0, "listen", "at least one [[listen]] section is required");
  }
  if (const toml::node* n = root.get("domains")) read_domains(*n, config);
  if (const toml::node* n = root.get("mailbox")) read_mailboxes(*n, config);
  if (const toml::node* n = root.get("limits")) read_limits(*n, config.limits);
  if (const toml::node* n = root.get("accounts")) read_accounts(*n, config.accounts);
  if (const toml::node* n = root.get("auth")) read_auth(*n, config.auth);
  if (const toml::node* n = root.get("dns")) read_dns(*n, config.dns);
  if (const toml::node* n = root.get("outbound")) read_outbound(*n, config.outbound);
  if (const toml::node* n = root.get("queue")) read_queue(*n, config.queue);
  if (const toml::node* n = root.get("relay")) read_relay(*n, config.relay);
  if (const toml::node* n = root.get("delivery")) read_delivery(*n, config.delivery);

  if (const toml::node* n = root.get("postmaster")) {
    config.postmaster = as_string(*n, "postmaster");
    auto it = std::ranges::find_if(
        config.mailboxes, [&](const Mailbox& m) { return iequal(m.address, config.postmaster); });
    if (it == config.mailboxes.end()) {
      fail(line_of(*n), "postmaster", "\"" + config.postmaster + "\" is not a [[mailbox]]");
    }
  } else if (!config.mailboxes.empty()) {
    config.postmaster = config.mailboxes.front().address;
  }
  for (Mailbox& m : config.mailboxes) {
    if (m.maildir.empty()) m.maildir = config.state_dir / "mail" / m.address;
  }
  return config;
}

void Reader::read_pki(const toml::node& node, Config& config) const {
  const toml::table& sets = as_table(node, "pki");
  // toml++ keeps keys sorted; file order is what the user wrote and what to_toml prints.
  std::vector<const toml::key*> names;
  for (const auto& [key, value] : sets) names.push_back(&key);
  std::ranges::sort(names, [](const toml::key* a, const toml::key* b) {
    return a->source().begin < b->source().begin;
  });
  for (const toml::key* name : names) {
    std::string path = "pki." + std::string(name->str());
    const toml::node& set_node = *sets.get(name->str());
    if (name->str().empty()) fail(line_of(set_node), path, "pki names must not be empty");
    if (!set_node.is_table()) {
      fail(line_of(set_node), path, "expected a table [pki.NAME] with cert and key");
    }
    const toml::table& set = *set_node.as_table();
    check_keys(set, path, {"cert", "key"});
    const toml::node* cert = set.get("cert");
    const toml::node* key = set.get("key");
    if (!cert) fail(line_of(set), path + ".cert", "missing required key");
    if (!key) fail(line_of(set), path + ".key", "missing required key");
    auto certs = as_strings(*cert, path + ".cert");
    auto keys = as_strings(*key, path + ".key");
    if (certs.empty()) fail(line_of(*cert), path + ".cert", "needs at least one certificate");
    if (certs.size() != keys.size()) {
      fail(line_of(*key), path + ".key",
           "has " + std::to_string(keys.size()) + " entries but cert has " +
               std::to_string(certs.size()) + "; each certificate needs its key");
    }
    Pki pki;
    pki.name = name->str();
    for (auto& [c, line] : certs) pki.certs.push_back(resolve(c));
    for (auto& [k, line] : keys) pki.keys.push_back(resolve(k));
    config.pki.push_back(std::move(pki));
  }
}

void Reader::read_listeners(const toml::node& node, Config& config) const {
  if (node.is_table())
    fail(line_of(node), "listen", "write [[listen]] (one per listener), not [listen]");
  const toml::array& array = as_array(node, "listen");
  if (array.empty()) fail(line_of(node), "listen", "at least one [[listen]] section is required");
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string path = "listen[" + std::to_string(i) + "]";
    const toml::table& t = as_table(array[i], path);
    check_keys(t, path, {"address", "tls", "role", "pki", "client_certificates"});
    for (std::string_view required : {"address", "tls", "role"}) {
      if (!t.get(required)) fail(line_of(t), join(path, required), "missing required key");
    }
    Listener l;
    const toml::node& address = *t.get("address");
    auto endpoint = parse_endpoint(as_string(address, path + ".address"));
    if (!endpoint) fail(line_of(address), path + ".address", endpoint.error());
    l.address = endpoint->address;
    l.port = endpoint->port;
    l.tls = as_enum(*t.get("tls"), path + ".tls", kTlsModes);
    l.role = as_enum(*t.get("role"), path + ".role", kRoles);
    if (const toml::node* cc = t.get("client_certificates")) {
      static constexpr std::pair<std::string_view, bool> kModes[] = {{"none", false},
                                                                     {"request", true}};
      l.request_client_certificate = as_enum(*cc, path + ".client_certificates", kModes);
      if (l.request_client_certificate && l.tls == TlsMode::kNone)
        fail(line_of(*cc), path + ".client_certificates", "needs a TLS listener");
    }

    if (const toml::node* pki = t.get("pki")) {
      const toml::array& names = as_array(*pki, path + ".pki");
      for (std::size_t j = 0; j < names.size(); ++j) {
        std::string key = path + ".pki[" + std::to_string(j) + "]";
        std::string name = as_string(names[j], key);
        if (std::ranges::find(l.pki, name) != l.pki.end()) {
          fail(line_of(names[j]), key, "\"" + name + "\" is listed twice");
        }
        if (std::ranges::none_of(config.pki, [&](const Pki& p) { return p.name == name; })) {
          fail(line_of(names[j]), key, "no [pki." + name + "] is defined");
        }
        l.pki.push_back(std::move(name));
      }
    }
    if (l.tls == TlsMode::kNone && !l.pki.empty()) {
      fail(line_of(*t.get("pki")), path + ".pki", "certificates are unused with tls = \"none\"");
    }
    if (l.tls != TlsMode::kNone && l.pki.empty()) {
      fail(line_of(t.get("pki") ? *t.get("pki") : static_cast<const toml::node&>(t)), path + ".pki",
           "a TLS listener needs at least one [pki.NAME]");
    }
    for (const Listener& other : config.listeners) {
      if (other.address == l.address && other.port == l.port) {
        fail(line_of(address), path + ".address",
             endpoint_text(l) + " is already used by another [[listen]]");
      }
    }
    config.listeners.push_back(std::move(l));
  }
}

void Reader::read_domains(const toml::node& node, Config& config) const {
  const toml::table& t = as_table(node, "domains");
  check_keys(t, "domains", {"local"});
  const toml::node* local = t.get("local");
  if (!local) return;
  const toml::array& array = as_array(*local, "domains.local");
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string key = "domains.local[" + std::to_string(i) + "]";
    // Domains compare case-insensitively (RFC 5321 2.4); keep one spelling.
    std::string domain = lower(as_string(array[i], key));
    if (!is_domain(domain)) fail(line_of(array[i]), key, "\"" + domain + "\" is not a domain name");
    if (std::ranges::find(config.local_domains, domain) != config.local_domains.end()) {
      fail(line_of(array[i]), key, "\"" + domain + "\" is listed twice");
    }
    config.local_domains.push_back(std::move(domain));
  }
}

void Reader::read_mailboxes(const toml::node& node, Config& config) const {
  if (node.is_table())
    fail(line_of(node), "mailbox", "write [[mailbox]] (one per mailbox), not [mailbox]");
  const toml::array& array = as_array(node, "mailbox");
  for (std::size_t i = 0; i < array.size(); ++i) {
    std::string path = "mailbox[" + std::to_string(i) + "]";
    const toml::table& t = as_table(array[i], path);
    check_keys(t, path, {"address", "maildir", "lmtp"});
    const toml::node* address = t.get("address");
    if (!address) fail(line_of(t), path + ".address", "missing required key");
    Mailbox m;
    m.address = as_string(*address, path + ".address");
    int line = line_of(*address);
    std::size_t at = m.address.find('@');
    if (at == std::string::npos || m.address.find('@', at + 1) != std::string::npos) {
      fail(line, path + ".address", "\"" + m.address + "\" is not local@domain");
    }
    if (!is_local_part(std::string_view(m.address).substr(0, at))) {
      fail(line, path + ".address",
           "\"" + m.address + "\" has an invalid local part (dot-atom only, at most 64 octets)");
    }
    std::string domain = lower(std::string_view(m.address).substr(at + 1));
    if (std::ranges::find(config.local_domains, domain) == config.local_domains.end()) {
      fail(line, path + ".address", "domain \"" + domain + "\" is not in domains.local");
    }
    // Local parts may be case-sensitive (RFC 5321 2.4), but two that differ only in case are
    // a configuration mistake, not two people.
    for (const Mailbox& other : config.mailboxes) {
      if (iequal(other.address, m.address)) {
        fail(line, path + ".address", "\"" + m.address + "\" is defined twice");
      }
    }
    if (const toml::node* maildir = t.get("maildir")) {
      m.maildir = resolve(as_string(*maildir, path + ".maildir"));
    }
    if (const toml::node* lmtp = t.get("lmtp")) {
      if (t.get("maildir")) fail(line_of(*lmtp), path + ".lmtp", "give maildir or lmtp, not both");
      m.lmtp = read_lmtp_target(*lmtp, path + ".lmtp");
    }
    config.mailboxes.push_back(std::move(m));
  }
}

void Reader::read_limits(const toml::node& node, Limits& limits) const {
  const toml::table& t = as_table(node, "limits");
  check_keys(
      t, "limits",
      {"max_message_size", "max_recipients", "max_bad_commands", "idle_timeout", "session_timeout",
       "tls_handshake_timeout", "max_connections", "max_connections_per_ip"});
  // Upper bounds catch unit mistakes (milliseconds for seconds, bits for octets).
  auto size = [&](std::string_view key, std::size_t& out, std::int64_t max) {
    if (const toml::node* n = t.get(key)) {
      out = static_cast<std::size_t>(as_integer(*n, join("limits", key), 1, max));
    }
  };
  auto seconds = [&](std::string_view key, std::chrono::seconds& out, std::int64_t max) {
    if (const toml::node* n = t.get(key)) {
      out = std::chrono::seconds(as_integer(*n, join("limits", key), 1, max));
    }
  };
  size("max_message_size", limits.max_message_size, std::int64_t{1} << 40);
  size("max_recipients", limits.max_recipients, 100000);
  size("max_bad_commands", limits.max_bad_commands, 10000);
  seconds("idle_timeout", limits.idle_timeout, 86400);
  seconds("session_timeout", limits.session_timeout, 7 * 86400);
  seconds("tls_handshake_timeout", limits.tls_handshake_timeout, 3600);
  size("max_connections", limits.max_connections, 1000000);
  size("max_connections_per_ip", limits.max_connections_per_ip, 1000000);
}

void Reader::read_accounts(const toml::node& node, Accounts& accounts) const {
  const toml::table& t = as_table(node, "accounts");
  check_keys(t, "accounts", {"file", "scram_iterations", "expose_user", "auth_cache_ttl"});
  if (const toml::node* n = t.get("file")) accounts.file = resolve(as_string(*n, "accounts.file"));
  if (const toml::node* n = t.get("scram_iterations")) {
    // RFC 7677 4: at least 4096. The top bound keeps a client's login under a minute.
    accounts.scram_iterations =
        static_cast<unsigned>(as_integer(*n, "accounts.scram_iterations", 4096, 10000000));
  }
  if (const toml::node* n = t.get("expose_user")) {
    accounts.expose_user = as_bool(*n, "accounts.expose_user");
  }
  if (const toml::node* n = t.get("auth_cache_ttl")) {
    accounts.auth_cache_ttl =
        std::chrono::seconds(as_integer(*n, "accounts.auth_cache_ttl", 0, 86400));
  }
}

void Reader::read_dns(const toml::node& node, Dns& dns) const {
  const toml::table& t = as_table(node, "dns");
  check_keys(t, "dns", {"forwarders", "trust_anchors", "use_resolv_conf"});
  if (const toml::node* n = t.get("forwarders")) {
    for (auto& [value, line] : as_strings(*n, "dns.forwarders")) {
      // IP[@PORT], as libunbound's ub_ctx_set_fwd takes it.
      std::string_view ip = value;
      std::size_t at = value.find('@');
      if (at != std::string::npos) {
        std::string_view port = ip.substr(at + 1);
        ip = ip.substr(0, at);
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (port.empty() || ec != std::errc() || end != port.data() + port.size() || p == 0 ||
            p > 65535)
          fail(line, "dns.forwarders", "\"" + value + "\": port must be 1-65535");
      }
      if (!is_ip_literal(ip))
        fail(line, "dns.forwarders", "\"" + value + "\" is not IP[@PORT] (an IP address)");
      dns.forwarders.push_back(value);
    }
  }
  if (const toml::node* n = t.get("trust_anchors")) {
    for (auto& [value, line] : as_strings(*n, "dns.trust_anchors"))
      dns.trust_anchors.push_back(resolve(value));
  }
  if (const toml::node* n = t.get("use_resolv_conf"))
    dns.use_resolv_conf = as_bool(*n, "dns.use_resolv_conf");
  if (dns.use_resolv_conf && !dns.forwarders.empty())
    fail(line_of(t), "dns.use_resolv_conf", "give forwarders or use_resolv_conf, not both");
}

std::vector<std::string> Reader::read_policy_chain(const toml::node& node,
                                                   const std::string& key) const {
  static constexpr std::string_view kPolicies[] = {"dane",    "mta-sts", "verify",
                                                   "encrypt", "may",     "none"};
  std::vector<std::string> chain;
  for (auto& [value, line] : as_strings(node, key)) {
    if (std::ranges::find(kPolicies, value) == std::end(kPolicies))
      fail(line, key, "\"" + value + "\" is not one of: " + one_of(kPolicies));
    chain.push_back(value);
  }
  if (chain.empty()) fail(line_of(node), key, "must name at least one policy");
  return chain;
}

void Reader::read_outbound(const toml::node& node, Outbound& outbound) const {
  const toml::table& t = as_table(node, "outbound");
  check_keys(
      t, "outbound",
      {"helo_name", "tls_policy", "domain", "mx_port", "ca_file", "timeout", "connect_timeout",
       "max_mx_hosts", "max_addresses_per_host", "mta_sts_port", "connection_cache_time_limit",
       "connection_reuse_time_limit", "connection_reuse_count_limit", "connection_cache_size"});
  if (const toml::node* n = t.get("helo_name")) {
    outbound.helo_name = as_string(*n, "outbound.helo_name");
    if (!is_domain(outbound.helo_name))
      fail(line_of(*n), "outbound.helo_name", "not a valid domain name");
  }
  if (const toml::node* n = t.get("tls_policy"))
    outbound.tls_policy = read_policy_chain(*n, "outbound.tls_policy");
  if (const toml::node* n = t.get("mx_port"))
    outbound.mx_port = static_cast<std::uint16_t>(as_integer(*n, "outbound.mx_port", 1, 65535));
  if (const toml::node* n = t.get("ca_file"))
    outbound.ca_file = resolve(as_string(*n, "outbound.ca_file"));
  if (const toml::node* n = t.get("timeout"))
    outbound.timeout = std::chrono::seconds(as_integer(*n, "outbound.timeout", 10, 3600));
  if (const toml::node* n = t.get("connect_timeout"))
    outbound.connect_timeout =
        std::chrono::seconds(as_integer(*n, "outbound.connect_timeout", 1, 600));
  if (outbound.connect_timeout > outbound.timeout)
    fail(line_of(t), "outbound.connect_timeout", "must not be longer than outbound.timeout");
  if (const toml::node* n = t.get("max_mx_hosts"))
    outbound.max_mx_hosts =
        static_cast<std::size_t>(as_integer(*n, "outbound.max_mx_hosts", 1, 100));
  if (const toml::node* n = t.get("max_addresses_per_host"))
    outbound.max_addresses_per_host =
        static_cast<std::size_t>(as_integer(*n, "outbound.max_addresses_per_host", 1, 100));
  if (const toml::node* n = t.get("mta_sts_port"))
    outbound.mta_sts_port =
        static_cast<std::uint16_t>(as_integer(*n, "outbound.mta_sts_port", 1, 65535));
  read_connection_reuse(t, outbound);
  if (const toml::node* n = t.get("domain")) {
    if (n->is_table())
      fail(line_of(*n), "outbound.domain", "write [[outbound.domain]] (one per domain)");
    const toml::array& array = as_array(*n, "outbound.domain");
    for (std::size_t i = 0; i < array.size(); ++i) {
      std::string path = "outbound.domain[" + std::to_string(i) + "]";
      const toml::table& d = as_table(array[i], path);
      check_keys(d, path, {"name", "tls_policy"});
      const toml::node* name = d.get("name");
      const toml::node* policy = d.get("tls_policy");
      if (!name) fail(line_of(d), path + ".name", "missing required key");
      if (!policy) fail(line_of(d), path + ".tls_policy", "missing required key");
      DomainTlsPolicy p;
      p.domain = lower(as_string(*name, path + ".name"));
      if (!is_domain(p.domain))
        fail(line_of(*name), path + ".name", "\"" + p.domain + "\" is not a domain name");
      for (const auto& other : outbound.domains) {
        if (other.domain == p.domain)
          fail(line_of(*name), path + ".name", "\"" + p.domain + "\" is listed twice");
      }
      p.policy = read_policy_chain(*policy, path + ".tls_policy");
      outbound.domains.push_back(std::move(p));
    }
  }
}

// Idle time stays well under a server's own idle timeout (RFC 5321 §4.5.3.2.7: 5 minutes).
void Reader::read_connection_reuse(const toml::table& t, Outbound& outbound) const {
  if (const toml::node* n = t.get("connection_cache_time_limit"))
    outbound.connection_cache_time_limit =
        std::chrono::seconds(as_integer(*n, "outbound.connection_cache_time_limit", 0, 300));
  if (const toml::node* n = t.get("connection_reuse_time_limit"))
    outbound.connection_reuse_time_limit =
        std::chrono::seconds(as_integer(*n, "outbound.connection_reuse_time_limit", 1, 86400));
  if (const toml::node* n = t.get("connection_reuse_count_limit"))
    outbound.connection_reuse_count_limit = static_cast<std::size_t>(
        as_integer(*n, "outbound.connection_reuse_count_limit", 1, 100000));
  if (const toml::node* n = t.get("connection_cache_size"))
    outbound.connection_cache_size =
        static_cast<std::size_t>(as_integer(*n, "outbound.connection_cache_size", 0, 10000));
}

void Reader::read_queue(const toml::node& node, QueueTiming& queue) const {
  const toml::table& t = as_table(node, "queue");
  check_keys(t, "queue",
             {"first_retry", "max_retry", "lifetime", "delay_warning", "workers",
              "destination_concurrency", "discard"});
  auto seconds = [&](std::string_view key, std::chrono::seconds& out, std::int64_t min,
                     std::int64_t max) {
    if (const toml::node* n = t.get(key))
      out = std::chrono::seconds(as_integer(*n, join("queue", key), min, max));
  };
  seconds("first_retry", queue.first_retry, 1, 86400);
  seconds("max_retry", queue.max_retry, 1, 7 * 86400);
  seconds("lifetime", queue.lifetime, 60, 60 * 86400);
  // 0 turns warnings off; a few seconds is allowed (tests). Not checked against lifetime: a
  // warning that would come after the lifetime simply never does.
  seconds("delay_warning", queue.delay_warning, 0, 60 * 86400);
  if (queue.max_retry < queue.first_retry)
    fail(line_of(t), "queue.max_retry", "must not be shorter than queue.first_retry");
  if (const toml::node* n = t.get("workers"))
    queue.workers = static_cast<unsigned>(as_integer(*n, "queue.workers", 1, 1024));
  if (const toml::node* n = t.get("destination_concurrency"))
    queue.destination_concurrency =
        static_cast<unsigned>(as_integer(*n, "queue.destination_concurrency", 0, 1024));
  if (const toml::node* n = t.get("discard")) queue.discard = as_bool(*n, "queue.discard");
}

void Reader::read_relay(const toml::node& node, Relay& relay) const {
  const toml::table& t = as_table(node, "relay");
  check_keys(t, "relay", {"host", "port", "tls", "user", "password_file"});
  const toml::node* host = t.get("host");
  if (!host) fail(line_of(t), "relay.host", "missing required key");
  relay.host = lower(as_string(*host, "relay.host"));
  // A name, not an address: the smarthost's certificate is verified against it.
  if (!is_domain(relay.host))
    fail(line_of(*host), "relay.host", "\"" + relay.host + "\" is not a host name");
  if (const toml::node* n = t.get("port"))
    relay.port = static_cast<std::uint16_t>(as_integer(*n, "relay.port", 1, 65535));
  if (const toml::node* n = t.get("tls")) {
    std::string mode = as_string(*n, "relay.tls");
    if (mode != "implicit" && mode != "starttls")
      fail(line_of(*n), "relay.tls", "\"" + mode + "\" is not one of: implicit, starttls");
    relay.starttls = mode == "starttls";
  }
  if (const toml::node* n = t.get("user")) relay.user = as_string(*n, "relay.user");
  if (const toml::node* n = t.get("password_file"))
    relay.password_file = resolve(as_string(*n, "relay.password_file"));
  if (relay.user.empty() != relay.password_file.empty())
    fail(line_of(t), "relay", "user and password_file go together");
}

void Reader::read_delivery(const toml::node& node, Delivery& delivery) const {
  const toml::table& t = as_table(node, "delivery");
  check_keys(t, "delivery", {"lmtp", "lmtp_timeout"});
  if (const toml::node* n = t.get("lmtp")) delivery.lmtp = read_lmtp_target(*n, "delivery.lmtp");
  if (const toml::node* n = t.get("lmtp_timeout"))
    delivery.lmtp_timeout = std::chrono::seconds(as_integer(*n, "delivery.lmtp_timeout", 1, 3600));
}

// "unix:PATH" or "IPv4:port" / "[IPv6]:port" (no host names: nothing to resolve per message).
LmtpTarget Reader::read_lmtp_target(const toml::node& node, const std::string& key) const {
  std::string text = as_string(node, key);
  LmtpTarget target;
  if (text.starts_with("unix:")) {
    std::string path = text.substr(5);
    if (path.empty()) fail(line_of(node), key, "\"unix:\" needs a socket path");
    target.socket = resolve(path);
    // sockaddr_un.sun_path holds 108 octets with the terminating NUL.
    if (target.socket.string().size() > 107)
      fail(line_of(node), key, "socket path longer than 107 octets: " + target.socket.string());
    return target;
  }
  auto endpoint = parse_endpoint(text);
  if (!endpoint)
    fail(line_of(node), key,
         "\"" + text + "\": expected \"unix:/path\", \"IPv4:port\" or \"[IPv6]:port\" (" +
             endpoint.error() + ")");
  target.address = endpoint->address;
  target.port = endpoint->port;
  return target;
}

void Reader::read_auth(const toml::node& node, AuthThrottle& auth) const {
  const toml::table& t = as_table(node, "auth");
  check_keys(t, "auth", {"delay_after", "lockout_after", "lockout", "max_delay", "window"});
  auto count = [&](std::string_view key, unsigned& out, std::int64_t min) {
    if (const toml::node* n = t.get(key)) {
      out = static_cast<unsigned>(as_integer(*n, join("auth", key), min, 100000));
    }
  };
  auto seconds = [&](std::string_view key, std::chrono::seconds& out, std::int64_t min,
                     std::int64_t max) {
    if (const toml::node* n = t.get(key)) {
      out = std::chrono::seconds(as_integer(*n, join("auth", key), min, max));
    }
  };
  count("delay_after", auth.delay_after, 0);
  count("lockout_after", auth.lockout_after, 1);
  seconds("lockout", auth.lockout, 1, 7 * 86400);
  // A delayed reply holds the session open; keep it well inside the idle timeout.
  seconds("max_delay", auth.max_delay, 0, 60);
  seconds("window", auth.window, 1, 30 * 86400);
}

// TOML basic string (TOML 1.0 "String"): escape quotes, backslashes and control characters.
std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string bare_or_quoted_key(std::string_view key) {
  bool bare = !key.empty() && std::ranges::all_of(key, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  return bare ? std::string(key) : quote(key);
}

template <typename Range, typename Proj>
std::string list(const Range& items, Proj proj) {
  std::string out = "[";
  for (const auto& item : items) {
    if (out.size() > 1) out += ", ";
    out += quote(proj(item));
  }
  return out + "]";
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, std::string message)
    : std::runtime_error(format_error(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

Config load_string(std::string_view toml, const std::string& name, const fs::path& base_dir) {
  toml::table root;
  try {
    root = toml::parse(toml, name);
  } catch (const toml::parse_error& e) {
    throw ConfigError(name, static_cast<int>(e.source().begin.line), "",
                      std::string(e.description()));
  }
  return Reader(name, base_dir).read(root);
}

Config load_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string(), 0, "", "cannot open the file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(file.string(), 0, "", "cannot read the file");
  // Absolute, so that resolved paths survive a later chdir (daemonising).
  return load_string(text.str(), file.string(), fs::absolute(file).parent_path());
}

Config embedded_default(const fs::path& state_dir) {
  Config config;
  config.hostname = "localhost";
  config.state_dir = state_dir;
  config.pki.push_back(
      Pki{"default", {state_dir / "tls" / "cert.pem"}, {state_dir / "tls" / "key.pem"}});
  auto listener = [](std::uint16_t port, TlsMode tls, Role role) {
    return Listener{"127.0.0.1", port, tls, role, {"default"}};
  };
  config.listeners = {
      listener(10465, TlsMode::kImplicit, Role::kSubmission),
      listener(10587, TlsMode::kStartTls, Role::kSubmission),
      listener(10025, TlsMode::kStartTls, Role::kMx),
  };
  config.local_domains = {"localhost"};
  config.mailboxes = {Mailbox{"demo@localhost", state_dir / "mail" / "demo@localhost"}};
  config.postmaster = "demo@localhost";
  config.accounts.file = state_dir / "users";  // created with a demo user on first start
  return config;
}

std::string to_toml(const Config& config) {
  auto str = [](const auto& s) { return std::string(s); };
  auto path = [](const fs::path& p) { return p.string(); };
  std::ostringstream out;
  out << "# Effective configuration"
      << (config.source.empty() ? " (embedded default)" : " of " + config.source.string()) << ".\n";
  out << "hostname = " << quote(config.hostname) << "\n";
  out << "state_dir = " << quote(config.state_dir.string()) << "\n";
  out << "threads = " << config.threads << "\n";
  out << "log_level = " << quote(config.log_level) << "\n";
  if (!config.postmaster.empty()) out << "postmaster = " << quote(config.postmaster) << "\n";

  for (const Pki& pki : config.pki) {
    out << "\n[pki." << bare_or_quoted_key(pki.name) << "]\n";
    out << "cert = " << list(pki.certs, path) << "\n";
    out << "key = " << list(pki.keys, path) << "\n";
  }
  for (const Listener& l : config.listeners) {
    out << "\n[[listen]]\n";
    out << "address = " << quote(endpoint_text(l)) << "\n";
    out << "tls = " << quote(name_of(kTlsModes, l.tls)) << "\n";
    out << "role = " << quote(name_of(kRoles, l.role)) << "\n";
    out << "pki = " << list(l.pki, str) << "\n";
    out << "client_certificates = " << quote(l.request_client_certificate ? "request" : "none")
        << "\n";
  }
  out << "\n[domains]\n";
  out << "local = " << list(config.local_domains, str) << "\n";
  for (const Mailbox& m : config.mailboxes) {
    out << "\n[[mailbox]]\n";
    out << "address = " << quote(m.address) << "\n";
    if (m.lmtp.empty()) {
      out << "maildir = " << quote(m.maildir.string()) << "\n";
    } else {
      out << "lmtp = " << quote(m.lmtp.text()) << "\n";
    }
  }
  const Limits& limits = config.limits;
  out << "\n[limits]\n";
  out << "max_message_size = " << limits.max_message_size << "\n";
  out << "max_recipients = " << limits.max_recipients << "\n";
  out << "max_bad_commands = " << limits.max_bad_commands << "\n";
  out << "idle_timeout = " << limits.idle_timeout.count() << "\n";
  out << "session_timeout = " << limits.session_timeout.count() << "\n";
  out << "tls_handshake_timeout = " << limits.tls_handshake_timeout.count() << "\n";
  out << "max_connections = " << limits.max_connections << "\n";
  out << "max_connections_per_ip = " << limits.max_connections_per_ip << "\n";
  out << "\n[accounts]\n";
  if (config.accounts.file.empty()) {
    out << "# file unset: AUTH is not offered\n";
  } else {
    out << "file = " << quote(config.accounts.file.string()) << "\n";
  }
  out << "scram_iterations = " << config.accounts.scram_iterations << "\n";
  out << "expose_user = " << (config.accounts.expose_user ? "true" : "false") << "\n";
  out << "auth_cache_ttl = " << config.accounts.auth_cache_ttl.count() << "\n";
  const AuthThrottle& auth = config.auth;
  out << "\n[auth]\n";
  out << "delay_after = " << auth.delay_after << "\n";
  out << "lockout_after = " << auth.lockout_after << "\n";
  out << "lockout = " << auth.lockout.count() << "\n";
  out << "max_delay = " << auth.max_delay.count() << "\n";
  out << "window = " << auth.window.count() << "\n";
  out << "\n[dns]\n";
  out << "forwarders = " << list(config.dns.forwarders, str) << "\n";
  out << "trust_anchors = " << list(config.dns.trust_anchors, path) << "\n";
  out << "use_resolv_conf = " << (config.dns.use_resolv_conf ? "true" : "false") << "\n";
  const Outbound& outbound = config.outbound;
  out << "\n[outbound]\n";
  if (!outbound.helo_name.empty()) out << "helo_name = " << quote(outbound.helo_name) << "\n";
  out << "tls_policy = " << list(outbound.tls_policy, str) << "\n";
  out << "mx_port = " << outbound.mx_port << "\n";
  if (!outbound.ca_file.empty()) out << "ca_file = " << quote(outbound.ca_file.string()) << "\n";
  out << "timeout = " << outbound.timeout.count() << "\n";
  out << "connect_timeout = " << outbound.connect_timeout.count() << "\n";
  out << "max_mx_hosts = " << outbound.max_mx_hosts << "\n";
  out << "max_addresses_per_host = " << outbound.max_addresses_per_host << "\n";
  out << "mta_sts_port = " << outbound.mta_sts_port << "\n";
  out << "connection_cache_time_limit = " << outbound.connection_cache_time_limit.count() << "\n";
  out << "connection_reuse_time_limit = " << outbound.connection_reuse_time_limit.count() << "\n";
  out << "connection_reuse_count_limit = " << outbound.connection_reuse_count_limit << "\n";
  out << "connection_cache_size = " << outbound.connection_cache_size << "\n";
  for (const DomainTlsPolicy& d : outbound.domains) {
    out << "\n[[outbound.domain]]\n";
    out << "name = " << quote(d.domain) << "\n";
    out << "tls_policy = " << list(d.policy, str) << "\n";
  }
  out << "\n[queue]\n";
  out << "first_retry = " << config.queue.first_retry.count() << "\n";
  out << "max_retry = " << config.queue.max_retry.count() << "\n";
  out << "lifetime = " << config.queue.lifetime.count() << "\n";
  out << "delay_warning = " << config.queue.delay_warning.count() << "\n";
  out << "workers = " << config.queue.workers << "\n";
  out << "destination_concurrency = " << config.queue.destination_concurrency << "\n";
  out << "discard = " << (config.queue.discard ? "true" : "false") << "\n";
  out << "\n[delivery]\n";
  if (config.delivery.lmtp.empty()) {
    out << "# lmtp unset: local mailboxes are Maildirs\n";
  } else {
    out << "lmtp = " << quote(config.delivery.lmtp.text()) << "\n";
  }
  out << "lmtp_timeout = " << config.delivery.lmtp_timeout.count() << "\n";
  if (!config.relay.host.empty()) {
    const Relay& relay = config.relay;
    out << "\n[relay]\n";
    out << "host = " << quote(relay.host) << "\n";
    out << "port = " << relay.port << "\n";
    out << "tls = " << quote(relay.starttls ? "starttls" : "implicit") << "\n";
    if (!relay.user.empty()) {
      out << "user = " << quote(relay.user) << "\n";
      out << "password_file = " << quote(relay.password_file.string()) << "\n";
    }
  }
  return out.str();
}

}  // namespace sealpost::config
