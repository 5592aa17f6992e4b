// Spool files: writing (commit), reading with full verification (load), crash recovery and
// removal. The byte format and the commit protocol are specified in docs/queue-format.md;
// keep the two in step. Group commit (batching fsyncs across sessions) is not done here yet.
#include "queue/spool.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <system_error>

#include "queue/queue_id.hpp"

namespace sealpost::queue {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "SEALPOST-Q1\n";
constexpr std::size_t kRecordHeaderSize = 5;  // u8 type + u32 little-endian length

enum RecordType : std::uint8_t {
  kReversePath = 0x01,
  kRecipient = 0x02,
  kFlags = 0x03,
  kContent = 0x04,
  kEnd = 0xFF,
};

constexpr std::uint8_t kFlagSmtpUtf8 = 0x01;
constexpr std::uint8_t kFlagBody8Bit = 0x02;

std::string error_text(int error) {
  // strerrordesc_np is thread-safe, unlike strerror; workers log concurrently.
  const char* text = ::strerrordesc_np(error);
  return text != nullptr ? text : "errno " + std::to_string(error);
}

void append_u32(std::string& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

std::uint32_t read_u32(std::string_view bytes) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

void append_record(std::string& out, RecordType type, std::string_view payload) {
  out.push_back(static_cast<char>(type));
  append_u32(out, static_cast<std::uint32_t>(payload.size()));
  out.append(payload);
}

std::uint32_t crc_of(std::uint32_t crc, std::string_view bytes) {
  return static_cast<std::uint32_t>(
      crc32_z(crc, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

// Parses a whole spool file. On success returns nullptr and fills `message` (the file's
// buffer becomes the content, trimmed in place, so the body is not copied again); otherwise
// returns why the file was rejected. Every record must be present, in order, with nothing
// after the end record: a torn write can only ever fail this check.
const char* parse(std::string file, StoredMessage& message) {
  if (!std::string_view(file).starts_with(kMagic)) return "bad magic";
  enum class Stage { kReversePath, kFirstRecipient, kRecipients, kContent, kEnd };
  Stage stage = Stage::kReversePath;
  std::size_t pos = kMagic.size();
  std::size_t content_offset = 0;
  std::size_t content_size = 0;
  const std::string_view view(file);
  while (true) {
    if (view.size() - pos < kRecordHeaderSize) return "truncated record header";
    const auto type = static_cast<std::uint8_t>(view[pos]);
    const std::size_t length = read_u32(view.substr(pos + 1, 4));
    const std::size_t record_start = pos;
    pos += kRecordHeaderSize;
    if (view.size() - pos < length) return "truncated record";
    const std::string_view payload = view.substr(pos, length);
    pos += length;
    switch (stage) {
      case Stage::kReversePath:
        if (type != kReversePath) return "expected reverse-path record";
        message.envelope.reverse_path = payload;
        stage = Stage::kFirstRecipient;
        break;
      case Stage::kFirstRecipient:
      case Stage::kRecipients:
        if (type == kRecipient) {
          message.envelope.recipients.emplace_back(payload);
          stage = Stage::kRecipients;
          break;
        }
        if (stage == Stage::kFirstRecipient || type != kFlags) return "expected recipient record";
        if (length != 1 || (payload[0] & ~(kFlagSmtpUtf8 | kFlagBody8Bit)) != 0) {
          return "bad flags record";
        }
        message.envelope.smtputf8 = (payload[0] & kFlagSmtpUtf8) != 0;
        message.envelope.body_8bit = (payload[0] & kFlagBody8Bit) != 0;
        stage = Stage::kContent;
        break;
      case Stage::kContent:
        if (type != kContent) return "expected content record";
        content_offset = record_start + kRecordHeaderSize;
        content_size = length;
        stage = Stage::kEnd;
        break;
      case Stage::kEnd:
        if (type != kEnd || length != 4) return "expected end record";
        if (pos != view.size()) return "trailing bytes after end record";
        if (crc_of(0, view.substr(0, record_start)) != read_u32(payload)) return "bad checksum";
        file.resize(content_offset + content_size);
        file.erase(0, content_offset);
        message.content = std::move(file);
        return nullptr;
    }
  }
}

// Reads a whole file; 0 or an errno value.
int read_file(const fs::path& path, std::string& out) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  struct stat st {};
  int error = 0;
  if (::fstat(fd, &st) != 0) {
    error = errno;
  } else {
    out.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error = errno;
        break;
      }
      if (n == 0) break;  // shrank under us: parse() will reject the short buffer
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
  }
  ::close(fd);
  return error;
}

// mkdir with mode 0700; an existing directory is fine, anything else throws.
void make_private_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return;
  const int error = errno;
  if (error == EEXIST && fs::is_directory(dir)) return;
  throw std::system_error(error, std::generic_category(), "spool: mkdir " + dir.string());
}

}  // namespace

Spool::Spool(std::filesystem::path dir, FileSystem& fs) : dir_(std::move(dir)), fs_(fs) {
  if (dir_.has_parent_path()) fs::create_directories(dir_.parent_path());
  make_private_dir(dir_);
  make_private_dir(dir_ / "tmp");
  make_private_dir(dir_ / "queue");
}

std::vector<std::string> Spool::recover() {
  // A file in tmp/ was never acknowledged (250 follows the rename), so it is safe to drop.
  bool removed_any = false;
  for (const auto& entry : fs::directory_iterator(dir_ / "tmp")) {
    spdlog::warn("spool: discarding partial {}", entry.path().filename().string());
    if (int error = fs_.unlink(entry.path())) {
      spdlog::error("spool: unlink {}: {}", entry.path().string(), error_text(error));
    }
    removed_any = true;
  }
  if (removed_any) fs_.fsync_dir(dir_ / "tmp");

  std::vector<std::string> ids;
  std::vector<std::string> bad;
  for (const auto& entry : fs::directory_iterator(dir_ / "queue")) {
    std::string name = entry.path().filename().string();
    if (is_valid_queue_id(name) && load(name)) {
      ids.push_back(std::move(name));
    } else {
      bad.push_back(std::move(name));
    }
  }
  if (!bad.empty()) {
    const fs::path corrupt = dir_ / "corrupt";
    make_private_dir(corrupt);
    for (const auto& name : bad) {
      if (int error = fs_.rename(dir_ / "queue" / name, corrupt / name)) {
        spdlog::error("spool: cannot quarantine {}: {}", name, error_text(error));
        continue;
      }
      spdlog::error("spool: moved unreadable queue/{} to corrupt/ (never delivered)", name);
    }
    fs_.fsync_dir(corrupt);
    fs_.fsync_dir(dir_ / "queue");
  }
  // Ids start with the arrival time in fixed-width hex, so text order is arrival order.
  std::sort(ids.begin(), ids.end());
  return ids;
}

CommitResult Spool::commit(const std::string& id, const Envelope& envelope,
                           std::span<const std::string_view> parts) {
  if (!is_valid_queue_id(id)) return {EINVAL, "commit " + id + ": invalid queue id"};
  if (envelope.recipients.empty()) return {EINVAL, "commit " + id + ": no recipients"};
  constexpr std::size_t kMaxRecord = std::numeric_limits<std::uint32_t>::max();
  std::size_t content_size = 0;
  for (auto part : parts) content_size += part.size();
  if (content_size > kMaxRecord) return {EFBIG, "commit " + id + ": message too large"};

  // Envelope records and the content record's header go into one small buffer; the parts
  // are written from the caller's memory so the body is never copied.
  std::string head(kMagic);
  append_record(head, kReversePath, envelope.reverse_path);
  for (const auto& rcpt : envelope.recipients) append_record(head, kRecipient, rcpt);
  const char flags = static_cast<char>((envelope.smtputf8 ? kFlagSmtpUtf8 : 0) |
                                       (envelope.body_8bit ? kFlagBody8Bit : 0));
  append_record(head, kFlags, std::string_view(&flags, 1));
  head.push_back(static_cast<char>(kContent));
  append_u32(head, static_cast<std::uint32_t>(content_size));

  std::uint32_t crc = crc_of(0, head);
  for (auto part : parts) crc = crc_of(crc, part);
  std::string end;
  end.push_back(static_cast<char>(kEnd));
  append_u32(end, 4);
  append_u32(end, crc);

  const fs::path tmp = dir_ / "tmp" / id;
  const fs::path final_path = dir_ / "queue" / id;
  int fd = -1;
  if (int error = fs_.open_new(tmp, &fd)) {
    // Not ours to unlink: EEXIST would mean someone else's file under this id.
    return {error, "create tmp/" + id + ": " + error_text(error)};
  }
  auto abandon = [&](int error, const char* step) {
    if (fd >= 0) fs_.close(fd);
    fs_.unlink(tmp);
    return CommitResult{error, std::string(step) + " tmp/" + id + ": " + error_text(error)};
  };
  if (int error = fs_.write_all(fd, head)) return abandon(error, "write");
  for (auto part : parts) {
    if (int error = fs_.write_all(fd, part)) return abandon(error, "write");
  }
  if (int error = fs_.write_all(fd, end)) return abandon(error, "write");
  if (int error = fs_.fdatasync(fd)) return abandon(error, "fdatasync");
  const int close_error = fs_.close(fd);
  fd = -1;
  if (close_error != 0) return abandon(close_error, "close");
  if (int error = fs_.rename(tmp, final_path)) return abandon(error, "rename");
  if (int error = fs_.fsync_dir(dir_ / "queue")) {
    // The rename may or may not survive a crash; the caller will say 4xx, so take the file
    // back rather than risk delivering a message the client will send again.
    fs_.unlink(final_path);
    fs_.fsync_dir(dir_ / "queue");
    return {error, "fsync queue/ for " + id + ": " + error_text(error)};
  }
  return {};
}

std::optional<StoredMessage> Spool::load(const std::string& id) const {
  if (!is_valid_queue_id(id)) {
    spdlog::error("spool: load of invalid queue id '{}'", id);
    return std::nullopt;
  }
  std::string file;
  if (int error = read_file(dir_ / "queue" / id, file)) {
    spdlog::warn("spool: cannot read queue/{}: {}", id, error_text(error));
    return std::nullopt;
  }
  StoredMessage message;
  if (const char* why = parse(std::move(file), message)) {
    spdlog::error("spool: queue/{} is corrupt: {}", id, why);
    return std::nullopt;
  }
  message.id = id;
  return message;
}

int Spool::remove(const std::string& id) {
  if (!is_valid_queue_id(id)) return EINVAL;
  if (int error = fs_.unlink(dir_ / "queue" / id)) return error;
  return fs_.fsync_dir(dir_ / "queue");
}

}  // namespace sealpost::queue
