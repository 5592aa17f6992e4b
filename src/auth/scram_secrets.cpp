// SCRAM-SHA-256 secrets (RFC 5802 §3) as the credentials file stores them: derived and
// base64-coded with the sasl module's primitives, parsed strictly.
#include "auth/scram_secrets.hpp"

#include "sasl/base64.hpp"
#include "sasl/scram_keys.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace sealpost::auth {

namespace {

using Key = std::array<unsigned char, 32>;

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

std::expected<Key, std::string> decode_key(std::string_view text, std::string_view what) {
  auto bytes = base64_decode(text);
  if (!bytes) return std::unexpected(std::string(what) + ": " + bytes.error());
  Key key{};
  if (bytes->size() != key.size()) {
    return std::unexpected(std::string(what) + ": expected 32 bytes, got " +
                           std::to_string(bytes->size()));
  }
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

std::string_view as_view(const Key& key) {
  return {reinterpret_cast<const char*>(key.data()), key.size()};
}

}  // namespace

ScramSecrets derive_scram_secrets(std::string_view password, std::string_view salt,
                                  unsigned iterations) {
  // One implementation of RFC 5802 §3 for both sides: the SASL module's.
  auto credentials = sasl::make_scram_credentials(password, salt, iterations);
  if (!credentials) throw std::runtime_error("SCRAM key derivation refused the password or salt");
  ScramSecrets secrets;
  secrets.iterations = iterations;
  secrets.salt = std::string(salt);
  secrets.stored_key = credentials->stored_key;
  secrets.server_key = credentials->server_key;
  return secrets;
}

ScramSecrets make_scram_secrets(std::string_view password, unsigned iterations) {
  std::string salt(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(salt.data()), static_cast<int>(salt.size())) !=
      1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return derive_scram_secrets(password, salt, iterations);
}

std::string format_scram_secrets(const ScramSecrets& secrets) {
  return std::string(kScramMechanism) + ":" + std::to_string(secrets.iterations) + ":" +
         base64_encode(secrets.salt) + ":" + base64_encode(as_view(secrets.stored_key)) + ":" +
         base64_encode(as_view(secrets.server_key));
}

std::expected<ScramSecrets, std::string> parse_scram_secrets(std::string_view text) {
  std::vector<std::string_view> parts = split(text, ':');
  if (parts.size() != 5 || parts[0] != kScramMechanism) {
    return std::unexpected("expected SCRAM-SHA-256:ITERATIONS:SALT:STOREDKEY:SERVERKEY");
  }
  ScramSecrets secrets;
  auto [end, ec] =
      std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), secrets.iterations);
  if (parts[1].empty() || ec != std::errc() || end != parts[1].data() + parts[1].size() ||
      parts[1].front() == '0') {
    return std::unexpected("SCRAM iteration count \"" + std::string(parts[1]) +
                           "\" is not a number");
  }
  if (secrets.iterations < kScramMinIterations) {
    return std::unexpected("SCRAM iteration count below 4096 (RFC 7677 4)");
  }
  // The wire form is an int; larger counts would overflow clients and PBKDF2 alike.
  if (secrets.iterations > 0x7fffffffu) return std::unexpected("SCRAM iteration count too large");
  auto salt = base64_decode(parts[2]);
  if (!salt) return std::unexpected("SCRAM salt: " + salt.error());
  if (salt->empty()) return std::unexpected("SCRAM salt is empty");
  secrets.salt = std::move(*salt);
  auto stored = decode_key(parts[3], "SCRAM StoredKey");
  if (!stored) return std::unexpected(stored.error());
  auto server = decode_key(parts[4], "SCRAM ServerKey");
  if (!server) return std::unexpected(server.error());
  secrets.stored_key = *stored;
  secrets.server_key = *server;
  return secrets;
}

std::string base64_encode(std::string_view bytes) { return sasl::base64_encode(bytes); }

std::expected<std::string, std::string> base64_decode(std::string_view text) {
  auto decoded = sasl::base64_decode(text);  // strict and canonical (RFC 4648 §3.5)
  if (!decoded) return std::unexpected("invalid base64");
  return *decoded;
}

}  // namespace sealpost::auth
