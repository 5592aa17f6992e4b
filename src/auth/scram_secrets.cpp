// PBKDF2, HMAC and SHA-256 from OpenSSL's libcrypto for SCRAM-SHA-256 secrets (RFC 5802 3),
// and the strict base64 of their text form. Intermediate keys are wiped after use.
#include "auth/scram_secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace sealpost::auth {

namespace {

using Key = std::array<unsigned char, 32>;

Key hmac_sha256(const Key& key, std::string_view data) {
  Key out{};
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
            &length) ||
      length != out.size()) {
    throw std::runtime_error("HMAC-SHA-256 failed");
  }
  return out;
}

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
  Key salted{};
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(salted.size()), salted.data()) != 1) {
    throw std::runtime_error("PBKDF2-HMAC-SHA-256 failed");
  }
  ScramSecrets secrets;
  secrets.iterations = iterations;
  secrets.salt = std::string(salt);
  Key client_key = hmac_sha256(salted, "Client Key");
  SHA256(client_key.data(), client_key.size(), secrets.stored_key.data());
  secrets.server_key = hmac_sha256(salted, "Server Key");
  OPENSSL_cleanse(salted.data(), salted.size());
  OPENSSL_cleanse(client_key.data(), client_key.size());
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

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::expected<std::string, std::string> base64_decode(std::string_view text) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (text.size() % 4 != 0) return std::unexpected("base64 length is not a multiple of 4");
  std::size_t padding = 0;
  if (text.ends_with("==")) {
    padding = 2;
  } else if (text.ends_with("=")) {
    padding = 1;
  }
  std::string_view body = text.substr(0, text.size() - padding);
  if (body.find_first_not_of(kAlphabet) != std::string_view::npos) {
    return std::unexpected("invalid base64");
  }
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return std::unexpected("invalid base64");
  out.resize(static_cast<std::size_t>(n) - padding);  // EVP_DecodeBlock counts pad bytes as 0s
  // Canonical form only (RFC 4648 3.5): the pad bits must be zero, i.e. re-encoding gives back
  // the same text.
  if (base64_encode(out) != text) return std::unexpected("non-canonical base64");
  return out;
}

}  // namespace sealpost::auth
