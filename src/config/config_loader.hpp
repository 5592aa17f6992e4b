// Loads and validates sealpost.toml into config::Config, and builds the embedded dev default.
// Validation is strict: unknown keys, wrong types and bad values are errors that name the
// file, line and key. Leaves I/O of certificates and directories to the modules that own them.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace sealpost::config {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, std::string message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }

 private:
  std::string file_;
  int line_;
  std::string key_;
};

// Parses and validates a TOML file. Relative paths in it resolve against the file's directory.
// Throws ConfigError (what(): "FILE:LINE: KEY: message").
Config load_file(const std::filesystem::path& file);
// Same, from text (for tests); `name` is used in error messages.
Config load_string(std::string_view toml, const std::string& name,
                   const std::filesystem::path& base_dir);

// The dev instance: loopback only, implicit TLS 127.0.0.1:10465 (submission), STARTTLS
// 127.0.0.1:10587 (submission), STARTTLS 127.0.0.1:10025 (mx), pki "default" at
// <state_dir>/tls/{cert,key}.pem (generated on first start), local domain "localhost",
// mailbox demo@localhost, accounts file <state_dir>/users.
Config embedded_default(const std::filesystem::path& state_dir);

// The effective configuration as TOML, for --check-config.
std::string to_toml(const Config& config);

}  // namespace sealpost::config
