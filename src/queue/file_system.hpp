// The few file operations the spool writes through, behind an interface so tests can make the
// Nth open, write, fdatasync, ftruncate, fsync of a directory, rename or unlink fail (ENOSPC,
// EIO) without a full disk. Reads do not go through it: a failed read is just a failed load.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace sealpost::queue {

// Each call returns 0 on success or an errno value; no exceptions.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual int open_new(const std::filesystem::path& path, int* fd) = 0;  // O_CREAT|O_EXCL|O_WRONLY
  virtual int write_all(int fd, std::string_view data) = 0;              // loops over short writes
  // pwritev(2) at `offset`, looping over short writes and IOV_MAX.
  virtual int pwritev_all(int fd, std::span<const iovec> iov, std::uint64_t offset) = 0;
  virtual int fdatasync(int fd) = 0;
  virtual int ftruncate(int fd, std::uint64_t size) = 0;
  virtual int close(int fd) = 0;
  virtual int rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  virtual int fsync_dir(const std::filesystem::path& dir) = 0;
  virtual int unlink(const std::filesystem::path& path) = 0;
};

// The real thing (POSIX calls, EINTR retried).
FileSystem& real_file_system();

}  // namespace sealpost::queue
