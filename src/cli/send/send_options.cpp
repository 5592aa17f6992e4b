// `sealpost send` options: CLI11 registration, the TOML client configuration file (refused
// unless mode 0600 or stricter: it may hold a password) and passwordeval-style commands.
#include "cli/send/send_options.hpp"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>

namespace sealpost::send {

void add_send_options(CLI::App& cmd, SendOptions& o) {
  cmd.add_option("recipients", o.recipients, "envelope recipients");
  cmd.add_flag("-t", o.recipients_from_headers,
               "recipients from the To, Cc and Bcc headers (Bcc is removed)");
  cmd.add_option("-f,--from", o.sender, "envelope sender (reverse-path)");
  cmd.add_option("-F", o.full_name, "full name for a From header that is added");
  cmd.add_flag("-i", o.ignore_dots, "a lone '.' does not end the message (always so)");
  cmd.add_option("-o", o.o_options, "sendmail -oX options (only -oi has a meaning)")
      ->allow_extra_args(false);  // "-oi rcpt": one value per -o, the rest are recipients
  cmd.add_flag("-v,--verbose", o.verbose, "print the SMTP dialogue on stderr");
  cmd.add_option("--server", o.server,
                 "submission server HOST[:PORT]; a name without port is looked up as "
                 "_submissions._tcp SRV first, then HOST:465");
  cmd.add_option("--server-name", o.server_name,
                 "name for SNI and the certificate check (default: the server host)");
  cmd.add_flag("--starttls", o.starttls, "STARTTLS (required) instead of implicit TLS; port 587");
  cmd.add_flag("--plaintext-i-know", o.plaintext, "no TLS at all (testing only)");
  cmd.add_option("--user", o.user, "AUTH user name");
  cmd.add_option("--password-env", o.password_env, "environment variable holding the password");
  cmd.add_option("--password-command", o.password_command,
                 "shell command printing the password (first line of its output)");
  cmd.add_option("--client-config", o.client_config, "client configuration file (mode 0600)");
  cmd.add_option("--ca", o.ca_file, "CA certificates (PEM) instead of the system store");
  cmd.add_option("--pin-sha256", o.pin_sha256, "base64 SHA-256 of the server's public key");
  cmd.add_option("--mechanism", o.mechanism, "SASL mechanism (default: strongest offered)");
  cmd.add_option("--helo-name", o.helo_name, "name sent in EHLO (default: this host's name)");
  cmd.add_option("--connect-timeout", o.connect_timeout,
                 "seconds for the TCP connect (default 30)");
  cmd.add_option("--timeout", o.timeout,
                 "seconds for each read, write and TLS handshake (default 60)");
  cmd.add_option("--dns-server", o.dns_servers,
                 "resolve SRV and host names through this resolver, IP[@PORT] (repeatable)");
  cmd.add_option("--dns-trust-anchor", o.dns_trust_anchors,
                 "DNSSEC trust anchor file (DS/DNSKEY) for those lookups (repeatable)");
}

namespace {

std::optional<OptionError> config_error(std::string message) {
  return OptionError{kExConfig, std::move(message)};
}

std::optional<OptionError> load_client_config(SendOptions& o) {
  const std::string& file = o.client_config;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return config_error(file + ": cannot read");
  // The file may hold a password: refuse what others can read or change (msmtp does the same).
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return config_error(file + ": mode " + mode + " is too open; it must be 0600 or stricter");
  }
  toml::table t;
  try {
    t = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    return config_error(file + ": " + std::string(e.description()));
  }
  static const char* const kKeys[] = {
      "server", "port",       "tls",       "user",       "password",
      "ca",     "pin_sha256", "mechanism", "dns_server", "dns_trust_anchor"};
  for (auto&& [key, value] : t) {
    bool known = false;
    for (const char* k : kKeys) known = known || key.str() == k;
    if (!known) return config_error(file + ": unknown key '" + std::string(key.str()) + "'");
  }
  auto str = [&](const char* key, std::string& into) {
    if (auto v = t[key].value<std::string>(); v && into.empty()) into = *v;
  };
  str("server", o.server);
  str("user", o.user);
  str("ca", o.ca_file);
  str("pin_sha256", o.pin_sha256);
  str("mechanism", o.mechanism);
  // A string or an array of strings; the command line wins when it names any.
  auto strings = [&](const char* key, std::vector<std::string>& into) -> bool {
    const toml::node* node = t.get(key);
    if (node == nullptr) return true;
    std::vector<std::string> values;
    if (auto v = node->value<std::string>()) {
      values.push_back(*v);
    } else if (const toml::array* a = node->as_array()) {
      for (const auto& item : *a) {
        auto v = item.value<std::string>();
        if (!v) return false;
        values.push_back(*v);
      }
    } else {
      return false;
    }
    if (into.empty()) into = std::move(values);
    return true;
  };
  if (!strings("dns_server", o.dns_servers))
    return config_error(file + ": dns_server must be a string or an array of strings");
  if (!strings("dns_trust_anchor", o.dns_trust_anchors))
    return config_error(file + ": dns_trust_anchor must be a string or an array of strings");
  if (auto v = t["port"].value<int64_t>(); v && o.port == 0) {
    if (*v < 1 || *v > 65535) return config_error(file + ": port out of range");
    o.port = static_cast<int>(*v);
  }
  if (auto v = t["tls"].value<std::string>(); v && !o.starttls && !o.plaintext) {
    if (*v == "starttls") {
      o.starttls = true;
    } else if (*v == "none") {
      o.plaintext = true;
    } else if (*v != "implicit") {
      return config_error(file + ": tls must be \"implicit\", \"starttls\" or \"none\"");
    }
  }
  if (auto v = t["password"].value<std::string>(); v && o.password.empty()) o.password = *v;
  return std::nullopt;
}

std::optional<OptionError> run_password_command(SendOptions& o) {
  // passwordeval semantics: /bin/sh -c CMD, first line of stdout, non-zero status fails.
  // Its stdin is /dev/null: our stdin is the message, which the command must not eat.
  std::string command = "(" + o.password_command + ") </dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return config_error("--password-command: cannot run");
  std::string out;
  char buf[512];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return config_error("--password-command failed (status " + std::to_string(status) + ")");
  auto eol = out.find('\n');
  if (eol != std::string::npos) out.resize(eol);
  if (!out.empty() && out.back() == '\r') out.pop_back();
  o.password = out;
  return std::nullopt;
}

bool is_address_literal(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::optional<OptionError> split_server(SendOptions& o) {
  std::string s = o.server;
  std::string port_text;
  bool port_given = false;  // a ':' before the port: "host:" is a mistake, not "no port"
  if (!s.empty() && s.front() == '[') {  // [v6]:port
    auto close = s.find(']');
    if (close == std::string::npos) return OptionError{kExUsage, "--server: missing ']'"};
    o.host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return OptionError{kExUsage, "--server: bad port"};
      port_text = s.substr(close + 2);
      port_given = true;
    }
  } else if (auto colon = s.find(':');
             colon != std::string::npos && s.find(':', colon + 1) == std::string::npos) {
    o.host = s.substr(0, colon);
    port_text = s.substr(colon + 1);
    port_given = true;
  } else {
    o.host = s;  // a name, or a bare IPv6 address without port
  }
  if (port_given) {
    if (port_text.empty())
      return OptionError{kExUsage,
                         "--server " + s + " names no port (leave out the ':' for the default)"};
    char* end = nullptr;
    long p = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) return OptionError{kExUsage, "--server: bad port"};
    o.port = static_cast<int>(p);
  }
  if (o.host.empty()) return OptionError{kExUsage, "--server: no host"};
  return std::nullopt;
}

}  // namespace

std::optional<OptionError> finish_send_options(SendOptions& o) {
  if (o.client_config.empty()) {
    if (const char* env = std::getenv("SEALPOST_CLIENT_CONFIG"); env && *env) {
      o.client_config = env;
    } else if (const char* home = std::getenv("HOME"); home && *home) {
      std::string def = std::string(home) + "/.config/sealpost/client.toml";
      struct stat st {};
      if (::stat(def.c_str(), &st) == 0) o.client_config = def;
    }
  }
  if (!o.client_config.empty())
    if (auto e = load_client_config(o)) return e;
  for (const auto& opt : o.o_options)
    if (opt == "i") o.ignore_dots = true;  // other -oX are sendmail queue options: ignored
  if (o.starttls && o.plaintext)
    return OptionError{kExUsage, "--starttls and --plaintext-i-know exclude each other"};
  o.tls =
      o.starttls ? TlsChoice::kStartTls : (o.plaintext ? TlsChoice::kNone : TlsChoice::kImplicit);
  if (o.server.empty())
    return config_error("no submission server: give --server or a client configuration file");
  if (auto e = split_server(o)) return e;
  // RFC 6186 §3.1 / RFC 8314 §5.1: a bare domain is looked up as SRV first (not an address,
  // and not for --plaintext-i-know, which no SRV service name describes).
  o.discover = o.port == 0 && o.tls != TlsChoice::kNone && !is_address_literal(o.host);
  if (o.port == 0) o.port = o.tls == TlsChoice::kStartTls ? 587 : 465;
  o.server_name_given = !o.server_name.empty();
  if (o.server_name.empty()) o.server_name = o.host;
  if (!o.password_env.empty()) {
    const char* v = std::getenv(o.password_env.c_str());
    if (v == nullptr) return config_error("--password-env: " + o.password_env + " is not set");
    o.password = v;
  } else if (!o.password_command.empty()) {
    if (auto e = run_password_command(o)) return e;
  }
  if (!o.user.empty() && o.password.empty())
    return config_error("--user " + o.user +
                        " needs a password (--password-env, --password-command or the client "
                        "configuration file)");
  if (o.connect_timeout < 1) return OptionError{kExUsage, "--connect-timeout must be >= 1"};
  if (o.timeout < 1) return OptionError{kExUsage, "--timeout must be >= 1"};
  return std::nullopt;
}

}  // namespace sealpost::send
