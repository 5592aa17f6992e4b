// Password hashes for PLAIN and LOGIN (RFC 4616): new hashes are yescrypt from libxcrypt;
// verification accepts only memory-hard schemes (yescrypt, scrypt, argon2 where libxcrypt has
// it). DES, MD5, bcrypt and SHA-crypt hashes are refused, never silently accepted. Blocking:
// a hash costs tens of milliseconds and megabytes, so callers run it on worker threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sealpost::auth {

enum class HashKind {
  kUsable,       // a supported scheme this libxcrypt can compute
  kLocked,       // "", "*", or starts with "!": the account cannot log in with a password
  kUnsupported,  // weak, unknown or malformed
};

HashKind classify_hash(std::string_view hash);

// A fresh yescrypt hash ("$y$...") with a salt from the OS random source. Throws
// std::invalid_argument for a password containing NUL, std::runtime_error if libxcrypt fails.
std::string hash_password(std::string_view password);

// Why `password` is unacceptable to set, or nullopt: empty, longer than 1024 octets, not
// UTF-8, or containing control characters (SASLprep, RFC 4013 5, prohibits them; a stray CR
// from a pasted line would otherwise become part of the password).
std::optional<std::string> password_problem(std::string_view password);

// True only if `hash` is usable and `password` hashes to it (constant-time comparison).
bool verify_password(std::string_view password, std::string_view hash);

}  // namespace sealpost::auth
