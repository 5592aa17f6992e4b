// SCRAM-SHA-256 key derivation (RFC 5802 §3, RFC 7677) and the SHA-256/HMAC primitives the
// mechanisms share, on OpenSSL libcrypto. Passwords and user names pass only the reduced
// SASLprep of saslprep.hpp: full RFC 4013 is not implemented, and passwords that are empty,
// not UTF-8, or contain C0/DEL/C1 control characters are refused (nullopt).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sasl/mechanism.hpp"

namespace sealpost::sasl {

using Sha256Digest = std::array<unsigned char, 32>;

Sha256Digest sha256(std::string_view data);
Sha256Digest hmac_sha256(std::string_view key, std::string_view data);
inline std::string_view as_view(const Sha256Digest& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}
// Constant-time equality of equal-length buffers (CRYPTO_memcmp); false if lengths differ.
bool constant_time_equal(std::string_view a, std::string_view b);
void cleanse(std::string& secret);  // OPENSSL_cleanse, then clear

struct ScramKeys {
  Sha256Digest salted_password{};  // Hi(Normalize(password), salt, i)
  Sha256Digest client_key{};       // HMAC(SaltedPassword, "Client Key")
  Sha256Digest stored_key{};       // H(ClientKey)
  Sha256Digest server_key{};       // HMAC(SaltedPassword, "Server Key")
};

// nullopt if the password is refused (see above), the salt is empty, or iterations is outside
// [1, kMaxScramIterations]. The 4096 minimum is policy, enforced where credentials are used.
std::optional<ScramKeys> derive_scram_keys(std::string_view password, std::string_view salt,
                                           std::uint32_t iterations);

// What the credential store keeps: salt, iterations, StoredKey, ServerKey (RFC 5802 §2.2).
std::optional<ScramCredentials> make_scram_credentials(std::string_view password,
                                                       std::string_view salt,
                                                       std::uint32_t iterations);

// Deterministic stand-in for an unknown user (RFC 5802 §9 suggests hiding user existence):
// a 16-byte salt from HMAC(secret, name), the given iteration count, and keys no password
// derives. The SCRAM server also refuses the final proof for these regardless.
ScramCredentials fake_scram_credentials(std::string_view secret, std::string_view authcid,
                                        std::uint32_t iterations);

}  // namespace sealpost::sasl
