// The spool scanner: reads each segment whole, lets log::scan_segment verify it batch by batch,
// and replays message, done/delete, hold/release and finished records in order. Logs every torn or
// corrupt segment with the offset where trust ended. Leaves the files alone.
#include "queue/spool_scan.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "queue/log_format.hpp"
#include "queue/queue_id.hpp"

namespace sealpost::queue {
namespace {

namespace fs = std::filesystem;

int hex_digit(char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

// Reads a whole file; 0 or an errno value.
int read_whole(const fs::path& path, std::string& out) {
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
      if (n == 0) break;  // shrank under us: the scan sees a short (torn) file
      done += static_cast<std::size_t>(n);
    }
    out.resize(done);
  }
  ::close(fd);
  return error;
}

// pread until `size` bytes or EOF; 0 or an errno value.
int read_at(const fs::path& path, std::uint64_t offset, std::size_t size, std::string& out) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return errno;
  out.resize(size);
  std::size_t done = 0;
  int error = 0;
  while (done < size) {
    const ssize_t n =
        ::pread(fd, out.data() + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = errno;
      break;
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  ::close(fd);
  return error;
}

const char* error_text(int error) {
  const char* text = ::strerrordesc_np(error);  // thread-safe, unlike strerror
  return text != nullptr ? text : "unknown error";
}

}  // namespace

std::optional<MessageKey> MessageKey::from_id(std::string_view id) {
  if (!is_valid_queue_id(id)) return std::nullopt;
  MessageKey key;
  for (std::size_t i = 0; i < 16; ++i) key.micros = (key.micros << 4) | hex_digit(id[i]);
  for (std::size_t i = 16; i < 21; ++i) key.counter = (key.counter << 4) | hex_digit(id[i]);
  return key;
}

std::string MessageKey::id() const {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string text(21, '0');
  for (int i = 0; i < 16; ++i) text[i] = kHex[(micros >> (4 * (15 - i))) & 0xF];
  for (int i = 0; i < 5; ++i) text[16 + i] = kHex[(counter >> (4 * (4 - i))) & 0xF];
  return text;
}

SpoolScan scan_spool(const fs::path& dir, const ScanOptions& options) {
  SpoolScan scan;
  std::vector<std::uint64_t> seqs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir / "log", ec)) {
    if (auto seq = log::parse_segment_name(entry.path().filename().string())) {
      scan.max_segment = std::max(scan.max_segment, *seq);
      if (*seq < options.below_segment) seqs.push_back(*seq);
    }
  }
  std::sort(seqs.begin(), seqs.end());

  // Every message and done record in log order; matched up after the scan by sorting, which
  // for 100k messages is much cheaper than a hash map updated record by record.
  struct Done {
    MessageKey key;
    std::uint64_t segment;
  };
  struct Mark {
    MessageKey key;
    std::uint64_t segment;
    bool hold;
  };
  struct Finished {
    MessageKey key;
    std::uint64_t segment;
    std::vector<std::uint32_t> rcpts;
  };
  std::vector<QueuedMessage> messages;
  std::vector<Done> dones;
  std::vector<Mark> marks;  // hold/release records, in log order
  std::vector<Finished> finished;
  std::string file;
  for (const std::uint64_t seq : seqs) {
    const std::string name = log::segment_name(seq);
    if (int error = read_whole(dir / "log" / name, file)) {
      if (error == ENOENT) continue;  // unlinked by the daemon while we listed
      // Not readable now is not the same as torn: keep the segment, deliver nothing from it.
      spdlog::error("spool: cannot read log/{}: {}", name, error_text(error));
      ++scan.problems;
      continue;
    }
    scan.segments[seq];
    messages.reserve(messages.size() + file.size() / 256);
    const auto on_batch = [&](std::span<const log::RecordView> batch) {
      for (const auto& record : batch) {
        if (record.type == log::RecordType::kMessage) {
          log::MessageView view;
          if (const char* why = log::parse_message(record.payload, view, options.envelopes)) {
            // The CRC matched, so this is a writer bug, not a torn write; never deliver it.
            spdlog::error("spool: log/{} offset {}: {}", name, record.offset, why);
            continue;
          }
          messages.push_back(
              QueuedMessage{*MessageKey::from_id(view.id),
                            Location{seq, record.offset, record.size, view.spill.has_value()},
                            std::move(view.envelope),
                            view.content_size(),
                            false,
                            {}});
        } else if (record.type == log::RecordType::kDone ||
                   record.type == log::RecordType::kDelete) {
          if (const auto key = MessageKey::from_id(record.payload)) dones.push_back({*key, seq});
        } else if (record.type == log::RecordType::kHold ||
                   record.type == log::RecordType::kRelease) {
          if (const auto key = MessageKey::from_id(record.payload)) {
            marks.push_back({*key, seq, record.type == log::RecordType::kHold});
          }
        } else if (record.type == log::RecordType::kFinished) {
          std::string_view id;
          std::vector<std::uint32_t> rcpts;
          if (const char* why = log::parse_finished(record.payload, id, rcpts)) {
            spdlog::error("spool: log/{} offset {}: {}", name, record.offset, why);
            continue;
          }
          finished.push_back({*MessageKey::from_id(id), seq, std::move(rcpts)});
        }
      }
    };
    const log::SegmentReport report = log::scan_segment(file, seq, on_batch);
    if (report.problem != nullptr) {
      ++scan.problems;
      if (options.log_problems) {
        spdlog::warn(
            "spool: log/{}: {} at offset {}: {} record(s) of an unfinished batch and {} "
            "byte(s) from there on discarded, never delivered",
            name, report.problem, report.problem_offset, report.discarded_records,
            report.file_size - report.problem_offset);
      }
    }
  }

  // Sort small (key, position) pairs, not whole messages; ties keep log order, so a message
  // committed twice (a writer bug) keeps its first record.
  std::vector<std::pair<MessageKey, std::uint32_t>> order;
  order.reserve(messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    order.emplace_back(messages[i].key, static_cast<std::uint32_t>(i));
  }
  std::sort(order.begin(), order.end());
  std::sort(dones.begin(), dones.end(), [](const Done& a, const Done& b) { return a.key < b.key; });
  // Stable: per message, its hold/release records stay in log order and the last one counts.
  std::stable_sort(marks.begin(), marks.end(),
                   [](const Mark& a, const Mark& b) { return a.key < b.key; });
  std::sort(finished.begin(), finished.end(),
            [](const Finished& a, const Finished& b) { return a.key < b.key; });
  scan.live.reserve(messages.size() - std::min(messages.size(), dones.size()));
  auto done = dones.begin();
  auto mark = marks.begin();
  auto progress = finished.begin();
  for (std::size_t i = 0; i < order.size(); ++i) {
    QueuedMessage& message = messages[order[i].second];
    if (i > 0 && order[i - 1].first == message.key) {
      spdlog::error("spool: {} committed twice, keeping the first", message.key.id());
      continue;
    }
    while (done != dones.end() && done->key < message.key) ++done;
    if (done != dones.end() && done->key == message.key) {
      // Retired: the segment holding the done record must outlive the message's segment.
      if (done->segment != message.location.segment) {
        scan.segments[done->segment].done_targets.insert(message.location.segment);
      }
      continue;
    }
    ++scan.segments[message.location.segment].live;
    // Every hold/release record of a live message keeps its segment: were an older hold to
    // outlive the release that followed it, a restart would hold the message again.
    while (mark != marks.end() && mark->key < message.key) ++mark;
    for (; mark != marks.end() && mark->key == message.key; ++mark) {
      message.held = mark->hold;
      ++scan.segments[mark->segment].marks;
      scan.marks.emplace_back(message.key, mark->segment);
    }
    // Likewise every finished record: dropping one would make a restart repeat a recipient.
    while (progress != finished.end() && progress->key < message.key) ++progress;
    for (; progress != finished.end() && progress->key == message.key; ++progress) {
      message.finished.insert(message.finished.end(), progress->rcpts.begin(),
                              progress->rcpts.end());
      ++scan.segments[progress->segment].marks;
      scan.marks.emplace_back(message.key, progress->segment);
    }
    std::ranges::sort(message.finished);
    message.finished.erase(std::unique(message.finished.begin(), message.finished.end()),
                           message.finished.end());
    scan.live.push_back(std::move(message));
  }
  return scan;
}

EnvelopeReader::~EnvelopeReader() {
  for (const auto& [seq, fd] : fds_) {
    if (fd >= 0) ::close(fd);
  }
}

bool EnvelopeReader::read(QueuedMessage& message) {
  const std::uint64_t seq = message.location.segment;
  auto it = fds_.find(seq);
  if (it == fds_.end()) {
    const fs::path path = dir_ / "log" / log::segment_name(seq);
    int fd;
    do {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    it = fds_.emplace(seq, fd).first;
  }
  if (it->second < 0) return false;  // unlinked meanwhile: its messages are gone
  buffer_.resize(message.location.size);
  std::size_t done = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::pread(it->second, buffer_.data() + done, buffer_.size() - done,
                              static_cast<off_t>(message.location.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  log::RecordView record;
  log::MessageView view;
  const char* why = log::read_record(buffer_, record);
  if (why == nullptr && record.type != log::RecordType::kMessage) why = "not a message record";
  if (why == nullptr) why = log::parse_message(record.payload, view);
  if (why == nullptr && MessageKey::from_id(view.id) != message.key)
    why = "record names another id";
  if (why != nullptr) {
    spdlog::error("spool: {}: log/{} offset {}: {}", message.key.id(), log::segment_name(seq),
                  message.location.offset, why);
    return false;
  }
  message.envelope = std::move(view.envelope);
  message.size = view.content_size();
  return true;
}

std::optional<StoredMessage> read_message(const fs::path& dir, const std::string& id,
                                          const Location& location) {
  const std::string segment = "log/" + log::segment_name(location.segment);
  std::string bytes;
  if (int error = read_at(dir / segment, location.offset, location.size, bytes)) {
    spdlog::error("spool: load {}: cannot read {}: {}", id, segment, error_text(error));
    return std::nullopt;
  }
  log::RecordView record;
  log::MessageView view;
  const char* why = log::read_record(bytes, record);
  if (why == nullptr && record.type != log::RecordType::kMessage) why = "not a message record";
  if (why == nullptr) why = log::parse_message(record.payload, view);
  if (why == nullptr && view.id != id) why = "record names another id";
  if (why != nullptr) {
    spdlog::error("spool: load {}: {} offset {}: {}", id, segment, location.offset, why);
    return std::nullopt;
  }
  StoredMessage message{id, std::move(view.envelope), std::string(view.content)};
  if (view.spill) {
    struct stat st {};
    const fs::path data = dir / "data" / id;
    int error = ::stat(data.c_str(), &st) != 0 ? errno : 0;
    if (error == 0) error = read_at(data, 0, static_cast<std::size_t>(st.st_size), message.content);
    if (error != 0) {
      spdlog::error("spool: load {}: cannot read data/{}: {}", id, id, error_text(error));
      return std::nullopt;
    }
    if (message.content.size() != view.spill->size ||
        log::crc32(0, message.content) != view.spill->crc) {
      spdlog::error("spool: load {}: data/{} does not match its log record", id, id);
      return std::nullopt;
    }
  }
  return message;
}

std::optional<StoredMessage> read_queued(const fs::path& dir, const std::string& id,
                                         const ScanOptions& options) {
  const auto key = MessageKey::from_id(id);
  if (!key) return std::nullopt;
  const SpoolScan scan = scan_spool(dir, options);
  auto it = std::lower_bound(scan.live.begin(), scan.live.end(), *key,
                             [](const QueuedMessage& m, const MessageKey& k) { return m.key < k; });
  if (it == scan.live.end() || it->key != *key) return std::nullopt;
  return read_message(dir, id, it->location);
}

}  // namespace sealpost::queue
