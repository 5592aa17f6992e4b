// read_password_file: open first, then fstat the open descriptor, so the mode checked is the
// mode of the file read (no swap between the check and the read).
#include "delivery/remote/password_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sealpost::delivery::remote {

namespace {

constexpr std::size_t kMaxSize = 4096;  // a password, not a document

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::expected<std::string, std::string> read_password_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::unexpected(name + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return std::unexpected(name + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return std::unexpected(name + ": not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return std::unexpected(name + ": mode " + octal(st.st_mode) +
                           " gives group or others access to the relay password; chmod 600 it");
  }
  std::string data(kMaxSize + 1, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return std::unexpected(name + ": " + std::strerror(e));
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > kMaxSize) return std::unexpected(name + ": larger than a password file should be");
  data.resize(got);
  std::string password = data.substr(0, data.find('\n'));
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) return std::unexpected(name + ": no password on the first line");
  return password;
}

}  // namespace sealpost::delivery::remote
