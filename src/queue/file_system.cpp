// The real FileSystem: thin POSIX wrappers that retry EINTR and open with O_CLOEXEC so no
// spool descriptor leaks into a child process. Errors come back as errno values.
#include "queue/file_system.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <vector>

namespace sealpost::queue {
namespace {

class PosixFileSystem final : public FileSystem {
 public:
  int open_new(const std::filesystem::path& path, int* fd) override {
    int result;
    do {
      result = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return errno;
    *fd = result;
    return 0;
  }

  int write_all(int fd, std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return EIO;  // a regular file never accepts zero bytes; avoid spinning
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
  }

  int pwritev_all(int fd, std::span<const iovec> iov, std::uint64_t offset) override {
    // A private copy: a short write advances through it in place.
    std::vector<iovec> rest(iov.begin(), iov.end());
    std::size_t first = 0;
    while (first < rest.size()) {
      if (rest[first].iov_len == 0) {
        ++first;
        continue;
      }
      const int count = static_cast<int>(std::min<std::size_t>(rest.size() - first, IOV_MAX));
      const ssize_t n = ::pwritev(fd, rest.data() + first, count, static_cast<off_t>(offset));
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return EIO;  // a regular file never accepts zero bytes; avoid spinning
      offset += static_cast<std::uint64_t>(n);
      auto left = static_cast<std::size_t>(n);
      while (left > 0) {
        const std::size_t take = std::min(left, rest[first].iov_len);
        rest[first].iov_base = static_cast<char*>(rest[first].iov_base) + take;
        rest[first].iov_len -= take;
        left -= take;
        if (rest[first].iov_len == 0) ++first;
      }
    }
    return 0;
  }

  int ftruncate(int fd, std::uint64_t size) override {
    while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }

  int fdatasync(int fd) override {
    while (::fdatasync(fd) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }

  int close(int fd) override {
    // Linux releases the descriptor even when close() reports EINTR; retrying could close
    // a descriptor another thread just opened.
    if (::close(fd) != 0 && errno != EINTR) return errno;
    return 0;
  }

  int rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    while (::rename(from.c_str(), to.c_str()) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }

  int fsync_dir(const std::filesystem::path& dir) override {
    int fd;
    do {
      fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return errno;
    int error = 0;
    while (::fsync(fd) != 0) {
      if (errno != EINTR) {
        error = errno;
        break;
      }
    }
    ::close(fd);
    return error;
  }

  int unlink(const std::filesystem::path& path) override {
    while (::unlink(path.c_str()) != 0) {
      if (errno != EINTR) return errno;
    }
    return 0;
  }
};

}  // namespace

FileSystem& real_file_system() {
  static PosixFileSystem instance;
  return instance;
}

}  // namespace sealpost::queue
