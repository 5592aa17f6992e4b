// SCRAM-SHA-256 key derivation and SHA-256/HMAC/PBKDF2 wrappers over libcrypto (RFC 5802 §3).
#include "sasl/scram_keys.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <stdexcept>
#include <string>

#include "sasl/saslprep.hpp"

namespace sealpost::sasl {
namespace {

[[noreturn]] void crypto_panic(const char* what) {
  // libcrypto failing on SHA-256 of in-memory data is an environment bug, not peer input. An
  // exception, not abort(): whoever ends the process then (the event loop's last-resort catch,
  // the terminate handler) writes the pending log lines and this one first.
  throw std::runtime_error(std::string("sealpost::sasl: libcrypto ") + what + " failed");
}

}  // namespace

Sha256Digest sha256(std::string_view data) {
  Sha256Digest out{};
  if (SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data()) ==
      nullptr) {
    crypto_panic("SHA256");
  }
  return out;
}

Sha256Digest hmac_sha256(std::string_view key, std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(),
           &len) == nullptr ||
      len != out.size()) {
    crypto_panic("HMAC");
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void cleanse(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

std::optional<ScramKeys> derive_scram_keys(std::string_view password, std::string_view salt,
                                           std::uint32_t iterations) {
  if (!acceptable_sasl_string(password, kMaxPasswordBytes)) return std::nullopt;
  if (salt.empty() || iterations == 0 || iterations > kMaxScramIterations) return std::nullopt;
  ScramKeys keys;
  // Hi() of RFC 5802 §2.2 is PBKDF2 (RFC 8018) with HMAC as PRF and dkLen = hash length.
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(keys.salted_password.size()),
                        keys.salted_password.data()) != 1) {
    crypto_panic("PBKDF2");
  }
  keys.client_key = hmac_sha256(as_view(keys.salted_password), "Client Key");
  keys.stored_key = sha256(as_view(keys.client_key));
  keys.server_key = hmac_sha256(as_view(keys.salted_password), "Server Key");
  return keys;
}

std::optional<ScramCredentials> make_scram_credentials(std::string_view password,
                                                       std::string_view salt,
                                                       std::uint32_t iterations) {
  auto keys = derive_scram_keys(password, salt, iterations);
  if (!keys) return std::nullopt;
  ScramCredentials out;
  out.salt = salt;
  out.iterations = iterations;
  out.stored_key = keys->stored_key;
  out.server_key = keys->server_key;
  OPENSSL_cleanse(&*keys, sizeof(*keys));
  return out;
}

ScramCredentials fake_scram_credentials(std::string_view secret, std::string_view authcid,
                                        std::uint32_t iterations) {
  // Domain-separated labels so the fake salt and fake keys are unrelated to each other.
  const auto derive = [&](std::string_view label) {
    std::string input(label);
    input += '\0';
    input += authcid;
    return hmac_sha256(secret, input);
  };
  ScramCredentials out;
  const Sha256Digest salt = derive("sealpost scram fake salt");
  out.salt.assign(reinterpret_cast<const char*>(salt.data()), 16);
  out.iterations = iterations;
  out.stored_key = derive("sealpost scram fake stored key");
  out.server_key = derive("sealpost scram fake server key");
  return out;
}

}  // namespace sealpost::sasl
