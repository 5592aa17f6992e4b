// Secret file handling: O_EXCL create with 0600, so a second process never overwrites it.
#include "daemon/secret.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <stdexcept>
#include <system_error>

namespace sealpost::daemon {

namespace {
constexpr std::size_t kSecretSize = 32;
}

std::string load_or_create_secret(const std::filesystem::path& path) {
  std::string secret(kSecretSize, '\0');
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, secret.data(), secret.size());
    ::close(fd);
    if (n == static_cast<ssize_t>(kSecretSize)) return secret;
    throw std::runtime_error(path.string() + ": truncated secret file; remove it to regenerate");
  }
  if (errno != ENOENT) throw std::system_error(errno, std::system_category(), path.string());
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), kSecretSize) != 1)
    throw std::runtime_error("RAND_bytes failed");
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::system_category(), path.string());
  bool ok = ::write(fd, secret.data(), secret.size()) == static_cast<ssize_t>(kSecretSize) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) throw std::runtime_error(path.string() + ": cannot write secret");
  return secret;
}

std::string random_token() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string out;
  for (unsigned char c : raw) out.push_back(kAlphabet[c % 62]);
  return out;
}

}  // namespace sealpost::daemon
