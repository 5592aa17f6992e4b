// Random passwords (OpenSSL's CSPRNG, rejection sampling for an unbiased pick) and the demo
// user of the embedded default.
#include "auth/demo_user.hpp"

#include <openssl/rand.h>

#include <stdexcept>
#include <system_error>

#include "auth/password_hash.hpp"
#include "auth/scram_secrets.hpp"

namespace sealpost::auth {

std::string random_password(std::size_t length) {
  static constexpr std::string_view kAlphabet =
      "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // 57 characters
  // Bytes at or above the largest multiple of the alphabet size would favour early letters.
  constexpr unsigned kLimit = 256 - 256 % kAlphabet.size();
  std::string out;
  while (out.size() < length) {
    unsigned char bytes[32];
    if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
    for (unsigned char b : bytes) {
      if (b < kLimit && out.size() < length) out += kAlphabet[b % kAlphabet.size()];
    }
  }
  return out;
}

User make_user(std::string name, std::string_view password, unsigned scram_iterations) {
  User user;
  user.name = std::move(name);
  user.password_hash = hash_password(password);
  user.scram = make_scram_secrets(password, scram_iterations);
  return user;
}

std::optional<std::string> ensure_demo_user(const std::filesystem::path& path,
                                            unsigned scram_iterations) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec) || ec) {
    if (ec) throw CredentialError(path.string() + ": " + ec.message());
    return std::nullopt;
  }
  EditLock lock(path);
  if (std::filesystem::exists(path)) return std::nullopt;  // another process won the race
  std::string password = random_password();
  CredentialFile file = CredentialFile::parse(
      "# Sealpost credentials: see docs/credentials-format.md; edit with `sealpost user`.\n");
  file.add(make_user(std::string(kDemoUser), password, scram_iterations));
  write_file_atomically(path, file.text());
  return password;
}

}  // namespace sealpost::auth
