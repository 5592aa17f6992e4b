// Maildir delivery: tmp/NAME → fsync → link into new/NAME → fsync new/. Leaves out Maildir++
// quotas and folders. NAME is deterministic (queue id + recipient index), so a retry after a
// crash finds the earlier copy and reports Delivered instead of writing a duplicate.
//
// Error policy, as a sysadmin would want it: disk full and I/O errors are temporary (451
// 4.3.0), a full quota is 452 4.2.2. A Maildir path that cannot exist (a path component is a
// file, permissions, read-only mount) is also temporary (451 4.3.5): it is our configuration,
// not the sender's mistake, and bouncing would throw away mail the admin can still rescue by
// fixing the path; the queue retries and logs each attempt until the lifetime runs out.
#include "delivery/maildir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "queue/queue_id.hpp"

namespace sealpost::delivery {
namespace {

namespace fs = std::filesystem;

// cur/ is only scanned for "NAME:2,<flags>" up to this many entries: a retry of an already
// read message in a huge cur/ may then be delivered twice, which beats an O(n) scan per
// delivery on mailboxes with 100k messages. Exact names are always checked with lstat.
constexpr int kMaxCurScan = 4096;

std::string error_text(int error) {
  const char* text = ::strerrordesc_np(error);  // thread-safe, unlike strerror
  return text != nullptr ? text : "errno " + std::to_string(error);
}

Outcome fail(int error, const std::string& step) {
  const std::string why = step + ": " + error_text(error);
  switch (error) {
    case EDQUOT:
    case EFBIG:
      return TempFail{"452 4.2.2 mailbox full: " + why};
    case ENOTDIR:
    case EACCES:
    case EPERM:
    case ELOOP:
    case EROFS:
    case ENAMETOOLONG:
      return TempFail{"451 4.3.5 maildir misconfigured: " + why};
    default:
      return TempFail{"451 4.3.0 cannot write maildir: " + why};
  }
}

bool path_exists(const fs::path& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

int fsync_path(const fs::path& path, int flags) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC);
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

int fsync_dir(const fs::path& dir) { return fsync_path(dir, O_RDONLY | O_DIRECTORY); }

// Creates `dir` (0700) if missing, parents included; fsyncs the parent of anything new so the
// Maildir itself survives a crash. 0 or an errno value.
int make_dir(const fs::path& dir) {
  const fs::path parent = dir.has_parent_path() ? dir.parent_path() : fs::path(".");
  if (::mkdir(dir.c_str(), 0700) == 0) return fsync_dir(parent);
  int error = errno;
  if (error == ENOENT && parent != dir && dir.has_parent_path()) {
    if (int parent_error = make_dir(parent)) return parent_error;
    if (::mkdir(dir.c_str(), 0700) == 0) return fsync_dir(parent);
    error = errno;  // EEXIST: another worker made it meanwhile
  }
  if (error != EEXIST) return error;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

bool in_cur(const fs::path& cur, const std::string& name) {
  if (path_exists(cur / name) || path_exists(cur / (name + ":2,"))) return true;
  DIR* dir = ::opendir(cur.c_str());
  if (dir == nullptr) return false;
  const std::string prefix = name + ":";
  bool found = false;
  int seen = 0;
  while (const dirent* entry = ::readdir(dir)) {
    if (++seen > kMaxCurScan) break;
    if (std::string_view(entry->d_name).starts_with(prefix)) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

int write_file(const fs::path& path, std::string_view content) {
  int fd;
  for (int attempt = 0;; ++attempt) {
    fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) break;
    if (errno == EINTR) continue;
    // A leftover of a crashed attempt at this very name: ours by construction, replace it.
    if (errno == EEXIST && attempt == 0 && ::unlink(path.c_str()) == 0) continue;
    return errno;
  }
  int error = 0;
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  while (error == 0 && ::fsync(fd) != 0) {
    if (errno != EINTR) error = errno;
  }
  if (::close(fd) != 0 && errno != EINTR && error == 0) error = errno;
  return error;
}

const std::string& escaped_host_name() {
  static const std::string host = [] {
    char buffer[HOST_NAME_MAX + 1] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') {
      std::strcpy(buffer, "localhost");
    }
    // Maildir convention: '/' and ':' cannot appear in a name part; use octal escapes.
    std::string out;
    for (const char* p = buffer; *p != '\0'; ++p) {
      if (*p == '/') {
        out += "\\057";
      } else if (*p == ':') {
        out += "\\072";
      } else {
        out += *p;
      }
    }
    return out;
  }();
  return host;
}

}  // namespace

std::string Maildir::file_name(std::string_view queue_id, unsigned rcpt_index) {
  const std::uint64_t secs = queue::queue_id_micros(queue_id).value_or(0) / 1'000'000;
  return std::to_string(secs) + ".Q" + std::string(queue_id) + "R" + std::to_string(rcpt_index) +
         "." + escaped_host_name();
}

Outcome Maildir::deliver(std::string_view queue_id, unsigned rcpt_index,
                         std::string_view content) const {
  if (!queue::is_valid_queue_id(queue_id)) {
    // A bug upstream, not a mail problem; the id becomes a file name, so refuse it.
    spdlog::error("maildir: refusing invalid queue id '{}'", queue_id);
    return PermFail{"554 5.3.0 internal error: invalid queue id"};
  }
  const fs::path tmp = root_ / "tmp";
  const fs::path new_dir = root_ / "new";
  const fs::path cur = root_ / "cur";
  for (const auto& dir : {root_, tmp, new_dir, cur}) {
    if (int error = make_dir(dir)) return fail(error, "mkdir " + dir.string());
  }

  const std::string name = file_name(queue_id, rcpt_index);
  const fs::path target = new_dir / name;
  if (path_exists(target)) {
    // Delivered before, perhaps without the fsync of new/ completing: finish that now.
    if (int error = fsync_dir(new_dir)) return fail(error, "fsync " + new_dir.string());
    return Delivered{};
  }
  if (in_cur(cur, name)) return Delivered{};

  const fs::path tmp_file = tmp / name;
  if (int error = write_file(tmp_file, content)) {
    ::unlink(tmp_file.c_str());
    return fail(error, "write " + tmp_file.string());
  }
  if (::link(tmp_file.c_str(), target.c_str()) != 0 && errno != EEXIST) {
    int error = errno;
    // Some file systems (FUSE, some network mounts) lack hard links; rename is the fallback
    // the Maildir spec allows. It may replace an identical copy, never a different message.
    if (error == EPERM || error == ENOSYS || error == EOPNOTSUPP) {
      error = ::rename(tmp_file.c_str(), target.c_str()) == 0 ? 0 : errno;
    }
    if (error != 0) {
      ::unlink(tmp_file.c_str());
      return fail(error, "link into " + new_dir.string());
    }
  }
  if (::unlink(tmp_file.c_str()) != 0 && errno != ENOENT) {
    spdlog::warn("maildir: cannot remove {}: {}", tmp_file.string(), error_text(errno));
  }
  if (int error = fsync_dir(new_dir)) return fail(error, "fsync " + new_dir.string());
  return Delivered{};
}

}  // namespace sealpost::delivery
