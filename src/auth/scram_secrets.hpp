// SCRAM-SHA-256 server secrets (RFC 5802 3, RFC 7677): the salt, iteration count, StoredKey
// and ServerKey kept per user so that the server never needs the password, plus their text
// form in the credentials file. Derivation runs PBKDF2 and so is blocking; it is needed only
// when a password is set. Passwords are used as given (see docs/credentials-format.md on
// SASLprep).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace sealpost::auth {

inline constexpr std::string_view kScramMechanism = "SCRAM-SHA-256";
inline constexpr unsigned kScramMinIterations = 4096;  // RFC 7677 4

struct ScramSecrets {
  unsigned iterations = 0;
  std::string salt;                            // raw bytes
  std::array<unsigned char, 32> stored_key{};  // SHA-256(HMAC(SaltedPassword, "Client Key"))
  std::array<unsigned char, 32> server_key{};  // HMAC(SaltedPassword, "Server Key")
};

// SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations), then the two keys.
ScramSecrets derive_scram_secrets(std::string_view password, std::string_view salt,
                                  unsigned iterations);

// Same with a fresh 16-byte random salt (RFC 5802 5.1 asks for a per-user salt).
ScramSecrets make_scram_secrets(std::string_view password, unsigned iterations);

// "SCRAM-SHA-256:ITERATIONS:SALT_B64:STOREDKEY_B64:SERVERKEY_B64" (standard base64, padded).
std::string format_scram_secrets(const ScramSecrets& secrets);
std::expected<ScramSecrets, std::string> parse_scram_secrets(std::string_view text);

// Strict standard base64 (RFC 4648 4) used by the file format; nullopt-like error on anything a
// canonical encoder would not produce.
std::string base64_encode(std::string_view bytes);
std::expected<std::string, std::string> base64_decode(std::string_view text);

}  // namespace sealpost::auth
