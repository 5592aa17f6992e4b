// yescrypt hashing and verification through libxcrypt's reentrant crypt_rn/crypt_gensalt_rn.
// crypt_data is 32 KiB, so it lives on the heap and is wiped after use: it held the password.
#include "auth/password_hash.hpp"

#include <crypt.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace sealpost::auth {

namespace {

// Memory-hard schemes only: a stolen file must cost an attacker real memory per guess. The
// '$' count tells a full hash from a bare setting: $y$PARAMS$SALT$HASH, $7$SETTING$HASH,
// $argon2id$v=19$m=..,t=..,p=..$SALT$HASH.
struct Scheme {
  std::string_view prefix;
  std::size_t dollars;
};
constexpr std::array<Scheme, 5> kAcceptedSchemes = {
    {{"$y$", 4}, {"$7$", 3}, {"$argon2id$", 5}, {"$argon2i$", 5}, {"$argon2d$", 5}}};
// crypt(5)'s base-64 alphabet plus the separators and argon2's parameter syntax.
constexpr std::string_view kHashAlphabet =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$=,+";

struct Wiped {
  crypt_data data{};
  ~Wiped() { OPENSSL_cleanse(&data, sizeof data); }
};

}  // namespace

HashKind classify_hash(std::string_view hash) {
  // shadow(5) conventions: "*" and "!" lock an account, "!" before a hash disables it.
  if (hash.empty() || hash == "*" || hash.front() == '!') return HashKind::kLocked;
  const Scheme* scheme = nullptr;
  for (const Scheme& s : kAcceptedSchemes) {
    if (hash.starts_with(s.prefix)) scheme = &s;
  }
  if (!scheme || hash.find_first_not_of(kHashAlphabet) != std::string_view::npos ||
      static_cast<std::size_t>(std::ranges::count(hash, '$')) != scheme->dollars ||
      hash.back() == '$') {
    return HashKind::kUnsupported;
  }
  // Refuses argon2 where this libxcrypt lacks it, and malformed settings.
  std::string copy(hash);
  return crypt_checksalt(copy.c_str()) == CRYPT_SALT_OK ? HashKind::kUsable
                                                        : HashKind::kUnsupported;
}

std::string hash_password(std::string_view password) {
  if (password.find('\0') != std::string_view::npos) {
    throw std::invalid_argument("password contains a NUL byte");
  }
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  // No random bytes passed: libxcrypt reads them from getrandom(2) itself. Cost 0 is
  // yescrypt's default (N=4096 blocks, 4 MiB of memory).
  if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting) || setting[0] == '*') {
    throw std::runtime_error("crypt_gensalt_rn failed to make a yescrypt salt");
  }
  auto state = std::make_unique<Wiped>();
  std::string key(password);
  const char* out = crypt_rn(key.c_str(), setting, &state->data, sizeof state->data);
  OPENSSL_cleanse(key.data(), key.size());
  if (!out || out[0] == '*') throw std::runtime_error("crypt_rn failed to hash with yescrypt");
  return out;
}

std::optional<std::string> password_problem(std::string_view password) {
  if (password.empty()) return "the password is empty";
  if (password.size() > 1024) return "the password is longer than 1024 octets";
  std::size_t i = 0;
  while (i < password.size()) {
    auto c = static_cast<unsigned char>(password[i]);
    if (c < 0x20 || c == 0x7f) return "the password contains a control character";
    // UTF-8 (RFC 3629 4): lead byte, continuation count, no overlongs, no surrogates.
    std::size_t extra = c < 0x80           ? 0
                        : (c >> 5) == 0x6  ? 1
                        : (c >> 4) == 0xe  ? 2
                        : (c >> 3) == 0x1e ? 3
                                           : 4;
    if (extra == 4 || c == 0xc0 || c == 0xc1 || c > 0xf4 ||
        (extra > 0 && i + extra >= password.size())) {
      return "the password is not valid UTF-8";
    }
    std::uint32_t code = extra == 0 ? c : c & (0x3f >> extra);
    for (std::size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(password[i + k]);
      if ((next & 0xc0) != 0x80) return "the password is not valid UTF-8";
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (code < kMin[extra] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return "the password is not valid UTF-8";
    }
    if (code >= 0x80 && code <= 0x9f) return "the password contains a control character";
    i += extra + 1;
  }
  return std::nullopt;
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (classify_hash(hash) != HashKind::kUsable) return false;
  if (password.find('\0') != std::string_view::npos) return false;
  auto state = std::make_unique<Wiped>();
  std::string key(password);
  std::string setting(hash);
  const char* out = crypt_rn(key.c_str(), setting.c_str(), &state->data, sizeof state->data);
  OPENSSL_cleanse(key.data(), key.size());
  if (!out || out[0] == '*') return false;
  // Lengths are public (the hash format fixes them); the bytes are compared in constant time.
  std::size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

}  // namespace sealpost::auth
