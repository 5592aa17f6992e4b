// The spool: submission queue, the committer thread (group commit into the segment log,
// spilling of large bodies, roll-back of failed batches), the in-memory index used by load(),
// done, delete, hold, release and finished records, and segment garbage collection. Byte layout and
// rules: docs/queue-format.md.
#include "queue/spool.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>
#include <iterator>
#include <memory>
#include <system_error>
#include <utility>

#include "queue/log_format.hpp"
#include "queue/queue_id.hpp"

namespace sealpost::queue {
namespace {

namespace fs = std::filesystem;

std::string error_text(int error) {
  // strerrordesc_np is thread-safe, unlike strerror; the committer and workers log concurrently.
  const char* text = ::strerrordesc_np(error);
  return text != nullptr ? text : "errno " + std::to_string(error);
}

// mkdir with mode 0700; an existing directory is fine, anything else throws.
void make_private_dir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0) return;
  const int error = errno;
  if (error == EEXIST && fs::is_directory(dir)) return;
  throw std::system_error(error, std::generic_category(), "spool: mkdir " + dir.string());
}

iovec iov_of(std::string_view bytes) {
  return iovec{const_cast<char*>(bytes.data()), bytes.size()};
}

}  // namespace

// One batch on its way to disk: the submissions and, per submission, its spill (if any).
struct Spool::Batch {
  std::vector<Pending>& pending;
  std::vector<std::optional<log::Spill>> spills;
  std::vector<fs::path> spill_paths;  // created by this batch
};

Spool::Spool(fs::path dir, FileSystem& fs) : Spool(std::move(dir), fs, Options{}) {}

Spool::Spool(fs::path dir, FileSystem& fs, Options options)
    : dir_(std::move(dir)), fs_(fs), options_(options) {
  if (dir_.has_parent_path()) fs::create_directories(dir_.parent_path());
  make_private_dir(dir_);
  make_private_dir(dir_ / "log");
  make_private_dir(dir_ / "data");
  for (const auto& entry : fs::directory_iterator(dir_ / "log")) {
    if (auto seq = log::parse_segment_name(entry.path().filename().string())) {
      next_segment_ = std::max(next_segment_, *seq + 1);
    }
  }
  first_own_segment_ = next_segment_;
  std::error_code ec;
  if (fs::exists(dir_ / "queue", ec) && !fs::is_empty(dir_ / "queue", ec)) {
    spdlog::warn("spool: {} holds files of the old one-file-per-message format; they are not read",
                 (dir_ / "queue").string());
  }
  committer_ = std::thread(&Spool::run_committer, this);
}

Spool::~Spool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  committer_.join();
}

std::vector<std::string> Spool::recover() {
  ScanOptions scan_options;
  scan_options.below_segment = first_own_segment_;
  SpoolScan scan = scan_spool(dir_, scan_options);

  std::vector<fs::path> garbage;
  std::vector<fs::path> orphans;
  bool only_recovered;
  {
    std::lock_guard lock(mutex_);
    only_recovered = index_.empty();
    index_.reserve(index_.size() + scan.live.size());
    for (const auto& message : scan.live) {
      index_.emplace(message.key, message.location);
      if (message.held) marks_[message.key].held = true;
      if (!message.finished.empty()) marks_[message.key].finished = message.finished;
    }
    for (const auto& [key, segment] : scan.marks) marks_[key].segments.push_back(segment);
    for (auto& [seq, state] : scan.segments) segments_.emplace(seq, std::move(state));
    garbage = collect_garbage_locked();
    // A body in data/ that no committed record refers to was spilled for a batch that never
    // committed (crash or failure between the body's sync and the log's): never acknowledged.
    for (const auto& entry : fs::directory_iterator(dir_ / "data")) {
      const std::string name = entry.path().filename().string();
      const auto key = MessageKey::from_id(name);
      if (!key) {
        spdlog::warn("spool: ignoring stray file data/{}", name);
        continue;
      }
      if (!index_.contains(*key) && !spilling_.contains(name)) orphans.push_back(entry.path());
    }
  }
  for (const auto& path : orphans) {
    spdlog::warn("spool: discarding body data/{} of a message never committed",
                 path.filename().string());
  }
  unlink_all(garbage);
  unlink_all(orphans);
  if (!orphans.empty()) fs_.fsync_dir(dir_ / "data");
  if (!garbage.empty()) fs_.fsync_dir(dir_ / "log");
  if (!only_recovered) return queued_ids();  // merge with what this Spool committed already
  std::vector<std::string> ids;
  ids.reserve(scan.live.size());
  for (const auto& message : scan.live) ids.push_back(message.key.id());
  return ids;
}

void Spool::submit(CommitRequest request, std::function<void(CommitResult)> done) {
  const auto key = MessageKey::from_id(request.id);
  if (!key) return done({EINVAL, "commit " + request.id + ": invalid queue id"});
  if (request.envelope.recipients.empty()) {
    return done({EINVAL, "commit " + request.id + ": no recipients"});
  }
  const auto& dsn = request.envelope.recipient_dsn;
  if (!dsn.empty() && dsn.size() != request.envelope.recipients.size()) {
    return done({EINVAL, "commit " + request.id + ": DSN parameters do not match the recipients"});
  }
  {
    std::lock_guard lock(mutex_);
    if (index_.contains(*key)) {
      return done({EEXIST, "commit " + request.id + ": already queued"});
    }
    queue_.push_back(Pending{std::move(request), std::move(done)});
  }
  wake_.notify_one();
}

CommitResult Spool::commit(const std::string& id, const Envelope& envelope,
                           std::span<const std::string_view> parts) {
  // Shared, so the committer never touches a promise this thread has already destroyed.
  auto promise = std::make_shared<std::promise<CommitResult>>();
  auto future = promise->get_future();
  submit(CommitRequest{id, envelope, {parts.begin(), parts.end()}},
         [promise](CommitResult result) { promise->set_value(std::move(result)); });
  return future.get();
}

std::optional<StoredMessage> Spool::load(const std::string& id) const {
  const auto key = MessageKey::from_id(id);
  if (!key) {
    spdlog::error("spool: load of invalid queue id '{}'", id);
    return std::nullopt;
  }
  Location location;
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(*key);
    if (it == index_.end()) {
      spdlog::warn("spool: load {}: not queued", id);
      return std::nullopt;
    }
    location = it->second;
  }
  return read_message(dir_, id, location);
}

int Spool::remove(const std::string& id) {
  const auto key = MessageKey::from_id(id);
  if (!key) return EINVAL;
  bool urgent = false, first = false;
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(*key);
    if (it == index_.end()) return ENOENT;
    const Location location = it->second;
    index_.erase(it);
    if (auto segment = segments_.find(location.segment); segment != segments_.end()) {
      --segment->second.live;
    }
    const bool had_marks = marks_.contains(*key);
    // A synced done record goes at once. A plain one rides the next batch: only the first of
    // them wakes the committer, which then waits done_delay for one (no wake per message).
    urgent = location.spilled || had_marks;
    first = dones_.empty();
    dones_.push_back(DoneMark{*key, location.segment, location.spilled, false, {}, had_marks});
    if (urgent) ++urgent_dones_;
  }
  if (urgent || first) wake_.notify_one();
  return 0;
}

void Spool::control(Control action, const std::string& id, std::function<void(CommitResult)> done) {
  const auto key = MessageKey::from_id(id);
  if (!key) return done({EINVAL, id + ": invalid queue id"});
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(*key);
    if (it == index_.end()) return done({ENOENT, id + ": not queued"});
    if (action == Control::kDelete) {
      const Location location = it->second;
      index_.erase(it);
      if (auto segment = segments_.find(location.segment); segment != segments_.end()) {
        --segment->second.live;
      }
      dones_.push_back(DoneMark{*key, location.segment, location.spilled, true, std::move(done)});
      ++urgent_dones_;
    } else {
      const bool hold = action == Control::kHold;
      const auto marks = marks_.find(*key);
      if ((marks != marks_.end() && marks->second.held) == hold) return done({});
      holds_.push_back(HoldMark{*key, hold, std::move(done)});
    }
  }
  wake_.notify_one();
}

CommitResult Spool::control(Control action, const std::string& id) {
  auto promise = std::make_shared<std::promise<CommitResult>>();
  auto future = promise->get_future();
  control(action, id, [promise](CommitResult result) { promise->set_value(std::move(result)); });
  return future.get();
}

bool Spool::is_held(const std::string& id) const {
  const auto key = MessageKey::from_id(id);
  if (!key) return false;
  std::lock_guard lock(mutex_);
  const auto it = marks_.find(*key);
  return it != marks_.end() && it->second.held && index_.contains(*key);
}

int Spool::finish_recipients(const std::string& id, std::vector<std::uint32_t> rcpts) {
  const auto key = MessageKey::from_id(id);
  if (!key || rcpts.empty()) return EINVAL;
  std::ranges::sort(rcpts);
  rcpts.erase(std::unique(rcpts.begin(), rcpts.end()), rcpts.end());
  {
    std::lock_guard lock(mutex_);
    if (!index_.contains(*key)) return ENOENT;
    std::vector<std::uint32_t>& known = marks_[*key].finished;
    std::vector<std::uint32_t> merged;
    std::ranges::set_union(known, rcpts, std::back_inserter(merged));
    known = std::move(merged);
    finished_.push_back(FinishedMark{*key, std::move(rcpts)});
  }
  wake_.notify_one();
  return 0;
}

std::vector<std::uint32_t> Spool::finished_recipients(const std::string& id) const {
  const auto key = MessageKey::from_id(id);
  if (!key) return {};
  std::lock_guard lock(mutex_);
  const auto it = marks_.find(*key);
  if (it == marks_.end() || !index_.contains(*key)) return {};
  return it->second.finished;
}

std::vector<QueuedMessage> Spool::snapshot() const {
  std::vector<QueuedMessage> messages;
  {
    std::lock_guard lock(mutex_);
    messages.reserve(index_.size());
    for (const auto& [key, location] : index_) {
      QueuedMessage& message = messages.emplace_back();
      message.key = key;
      message.location = location;
    }
    for (auto& message : messages) {
      const auto it = marks_.find(message.key);
      if (it == marks_.end()) continue;
      message.held = it->second.held;
      message.finished = it->second.finished;
    }
  }
  std::sort(messages.begin(), messages.end(),
            [](const QueuedMessage& a, const QueuedMessage& b) { return a.key < b.key; });
  return messages;
}

std::vector<std::string> Spool::queued_ids() const {
  std::vector<MessageKey> keys;
  {
    std::lock_guard lock(mutex_);
    keys.reserve(index_.size());
    for (const auto& entry : index_) keys.push_back(entry.first);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> ids;
  ids.reserve(keys.size());
  for (const auto& key : keys) ids.push_back(key.id());
  return ids;
}

std::size_t Spool::segment_count() const {
  std::lock_guard lock(mutex_);
  return segments_.size();
}

void Spool::run_committer() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || batch_due_locked() || !dones_.empty(); });
    if (!stopping_ && !batch_due_locked()) {
      // Plain done records only: give them done_delay to join a batch written anyway.
      wake_.wait_for(lock, options_.done_delay, [this] { return stopping_ || batch_due_locked(); });
    }
    // Stopping, and nothing left to write.
    if (queue_.empty() && dones_.empty() && holds_.empty() && finished_.empty()) break;
    // Everything that arrived while the previous batch was syncing forms this batch.
    std::vector<Pending> pending = std::move(queue_);
    queue_.clear();
    std::vector<DoneMark> dones = std::move(dones_);
    dones_.clear();
    urgent_dones_ = 0;
    std::vector<HoldMark> holds = std::move(holds_);
    holds_.clear();
    std::vector<FinishedMark> finished = std::move(finished_);
    finished_.clear();
    lock.unlock();
    dones.insert(dones.end(), carried_.begin(), carried_.end());
    carried_.clear();
    std::move(carried_finished_.begin(), carried_finished_.end(), std::back_inserter(finished));
    carried_finished_.clear();
    write_batch(pending, dones, holds, finished);
    lock.lock();
  }
  lock.unlock();
  if (!carried_.empty() || !carried_finished_.empty()) {
    spdlog::warn(
        "spool: {} done and {} finished record(s) not written; those messages or recipients "
        "will be delivered again",
        carried_.size(), carried_finished_.size());
  }
  seal_segment();
}

void Spool::write_batch(std::vector<Pending>& pending, std::vector<DoneMark>& dones,
                        std::vector<HoldMark>& holds, std::vector<FinishedMark>& finished) {
  Batch batch{pending, std::vector<std::optional<log::Spill>>(pending.size()), {}};
  int error = 0;
  std::string what;
  bool wrote = false;
  std::uint64_t batch_end = 0;
  std::vector<Location> locations;
  bool urgent_done = false;
  for (const auto& done : dones) urgent_done |= done.spilled || done.deleted || done.had_marks;
  // Only messages, queue control and bodies about to be unlinked need their records durable
  // now; plain done and finished records ride along with a later sync.
  const bool need_sync = !pending.empty() || urgent_done || !holds.empty();

  if (fd_ < 0 || size_ >= options_.segment_size) error = open_segment(what);
  if (error == 0) error = write_spills(batch, what);
  const std::uint64_t start = size_;  // a new segment starts after its header
  if (error == 0) {
    std::vector<log::EncodedMessage> encoded;
    encoded.reserve(pending.size());
    std::vector<std::string> small;
    small.reserve(dones.size() + holds.size() + finished.size() + 1);
    std::vector<iovec> iov;
    std::uint64_t offset = start;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      const CommitRequest& request = pending[i].request;
      encoded.push_back(
          log::encode_message(request.id, request.envelope, request.parts, batch.spills[i]));
      std::uint64_t size = encoded.back().head.size() + encoded.back().tail.size();
      if (!batch.spills[i]) {
        for (auto part : request.parts) size += part.size();
      }
      locations.push_back(Location{current_segment_, offset, static_cast<std::uint32_t>(size),
                                   batch.spills[i].has_value()});
      offset += size;
    }
    for (const auto& done : dones) {
      small.push_back(log::encode_record(
          done.deleted ? log::RecordType::kDelete : log::RecordType::kDone, done.key.id()));
    }
    for (const auto& hold : holds) {
      small.push_back(log::encode_record(
          hold.hold ? log::RecordType::kHold : log::RecordType::kRelease, hold.key.id()));
    }
    for (const auto& mark : finished) {
      small.push_back(log::encode_finished(mark.key.id(), mark.rcpts));
    }
    small.push_back(log::encode_commit(static_cast<std::uint32_t>(pending.size() + dones.size() +
                                                                  holds.size() + finished.size())));
    for (std::size_t i = 0; i < pending.size(); ++i) {
      iov.push_back(iov_of(encoded[i].head));
      if (!batch.spills[i]) {
        for (auto part : pending[i].request.parts) iov.push_back(iov_of(part));
      }
      iov.push_back(iov_of(encoded[i].tail));
    }
    for (const auto& record : small) {
      iov.push_back(iov_of(record));
      offset += record.size();
    }
    batch_end = offset;
    const std::string segment = "log/" + log::segment_name(current_segment_);
    wrote = true;
    error = fs_.pwritev_all(fd_, iov, start);
    if (error != 0) {
      what = "write " + segment + ": " + error_text(error);
    } else if (need_sync) {
      error = fs_.fdatasync(fd_);
      if (error != 0) what = "fdatasync " + segment + ": " + error_text(error);
    }
  }

  if (error != 0) {
    spdlog::error("spool: batch of {} message(s) and {} done/control record(s) failed: {}",
                  pending.size(), dones.size() + holds.size() + finished.size(), what);
    if (wrote) roll_back(start);
    unlink_all(batch.spill_paths);
    {
      std::lock_guard lock(mutex_);
      for (const auto& p : pending) spilling_.erase(p.request.id);
    }
    for (auto& done : dones) {
      if (done.done) {
        // The message is out of the index already; its record is retried with the next batch.
        std::exchange(done.done, nullptr)(
            CommitResult{error, what + " (the delete is retried with the next batch)"});
      }
      carried_.push_back(std::move(done));
    }
    std::move(finished.begin(), finished.end(), std::back_inserter(carried_finished_));
    for (auto& hold : holds) hold.done(CommitResult{error, what});
    for (auto& p : pending) p.done(CommitResult{error, what});
    return;
  }
  size_ = batch_end;
  dirty_ = !need_sync;

  std::vector<fs::path> garbage;
  {
    std::lock_guard lock(mutex_);
    SegmentState& current = segments_[current_segment_];
    for (std::size_t i = 0; i < pending.size(); ++i) {
      index_.emplace(*MessageKey::from_id(pending[i].request.id), locations[i]);
      spilling_.erase(pending[i].request.id);
      ++current.live;
    }
    for (const auto& done : dones) {
      // Keep this segment while the one its done record retires still exists.
      if (done.segment != current_segment_ && segments_.contains(done.segment)) {
        current.done_targets.insert(done.segment);
      }
      // Only now, with the record written, may the hold/release records go.
      forget_marks_locked(done.key);
    }
    for (const auto& hold : holds) {
      if (!index_.contains(hold.key)) continue;  // done or deleted meanwhile: moot
      Marks& marks = marks_[hold.key];
      marks.held = hold.hold;
      marks.segments.push_back(current_segment_);
      ++current.marks;
    }
    for (const auto& mark : finished) {
      const auto marks = marks_.find(mark.key);
      // Done or deleted meanwhile (which dropped its marks): the record is moot.
      if (marks == marks_.end() || !index_.contains(mark.key)) continue;
      marks->second.segments.push_back(current_segment_);
      ++current.marks;
    }
    garbage = collect_garbage_locked();
  }
  for (const auto& done : dones) {
    // Safe now: the done record is durable, so recovery will not look for this body.
    if (done.spilled) fs_.unlink(data_path(done.key.id()));
  }
  unlink_all(garbage);
  for (auto& done : dones) {
    if (done.done) done.done(CommitResult{});
  }
  for (auto& hold : holds) hold.done(CommitResult{});
  for (auto& p : pending) p.done(CommitResult{});
}

void Spool::forget_marks_locked(const MessageKey& key) {
  const auto it = marks_.find(key);
  if (it == marks_.end()) return;
  for (const std::uint64_t seq : it->second.segments) {
    if (auto segment = segments_.find(seq); segment != segments_.end()) --segment->second.marks;
  }
  marks_.erase(it);
}

int Spool::open_segment(std::string& what) {
  seal_segment();
  const std::uint64_t seq = next_segment_++;
  const std::string name = log::segment_name(seq);
  const fs::path path = dir_ / "log" / name;
  int fd = -1;
  if (int error = fs_.open_new(path, &fd)) {
    what = "create log/" + name + ": " + error_text(error);
    return error;
  }
  const std::string header = log::segment_header(seq);
  const iovec iov = iov_of(header);
  int error = fs_.pwritev_all(fd, {&iov, 1}, 0);
  if (error != 0) {
    what = "write log/" + name + ": " + error_text(error);
  } else if ((error = fs_.fsync_dir(dir_ / "log")) != 0) {
    // The header itself is synced with the first batch; the name must be durable before any
    // record in it is acknowledged.
    what = "fsync log/ for " + name + ": " + error_text(error);
  }
  if (error != 0) {
    fs_.close(fd);
    fs_.unlink(path);
    return error;
  }
  fd_ = fd;
  size_ = header.size();
  dirty_ = true;
  std::lock_guard lock(mutex_);
  segments_[seq];
  current_segment_ = seq;
  return 0;
}

void Spool::seal_segment() {
  if (fd_ < 0) return;
  if (dirty_) {
    if (int error = fs_.fdatasync(fd_)) {
      spdlog::warn("spool: fdatasync log/{} on close: {} (only done records can be lost)",
                   log::segment_name(current_segment_), error_text(error));
    }
  }
  fs_.close(fd_);
  fd_ = -1;
  dirty_ = false;
  std::lock_guard lock(mutex_);
  current_segment_ = 0;
}

void Spool::roll_back(std::uint64_t batch_start) {
  const std::string segment = "log/" + log::segment_name(current_segment_);
  // Cut the failed batch off, durably, so that a crash cannot bring it back and the next batch
  // can follow the last good one.
  int error = fs_.ftruncate(fd_, batch_start);
  if (error == 0) error = fs_.fdatasync(fd_);
  if (error == 0) {
    size_ = batch_start;
    dirty_ = false;
    return;
  }
  // Could not cut it off: overwrite its first byte with 0, which is no record type, so recovery
  // stops before it, and never append to this segment again (a later batch behind bytes that
  // may be torn would not be recoverable).
  spdlog::error("spool: cannot truncate {} to {}: {}; sealing it", segment, batch_start,
                error_text(error));
  const char zero = 0;
  const iovec iov{const_cast<char*>(&zero), 1};
  error = fs_.pwritev_all(fd_, {&iov, 1}, batch_start);
  if (error == 0) error = fs_.fdatasync(fd_);
  if (error != 0) {
    spdlog::critical(
        "spool: cannot invalidate the failed batch at {} offset {}: {}; after a crash its "
        "messages may be delivered although their clients were told to retry",
        segment, batch_start, error_text(error));
  }
  dirty_ = false;
  seal_segment();
}

int Spool::write_spills(Batch& batch, std::string& what) {
  bool any = false;
  for (std::size_t i = 0; i < batch.pending.size(); ++i) {
    const CommitRequest& request = batch.pending[i].request;
    std::uint64_t size = 0;
    for (auto part : request.parts) size += part.size();
    if (size <= options_.spill_threshold) continue;
    const fs::path path = data_path(request.id);
    {
      std::lock_guard lock(mutex_);
      spilling_.insert(request.id);
    }
    int fd = -1;
    if (int error = fs_.open_new(path, &fd)) {
      what = "create data/" + request.id + ": " + error_text(error);
      return error;  // not ours to unlink (EEXIST would be someone else's file)
    }
    batch.spill_paths.push_back(path);
    std::uint32_t crc = 0;
    int error = 0;
    const char* step = "write";
    for (auto part : request.parts) {
      crc = log::crc32(crc, part);
      if ((error = fs_.write_all(fd, part)) != 0) break;
    }
    if (error == 0) {
      step = "fdatasync";
      error = fs_.fdatasync(fd);
    }
    const int close_error = fs_.close(fd);
    if (error == 0 && close_error != 0) {
      step = "close";
      error = close_error;
    }
    if (error != 0) {
      what = std::string(step) + " data/" + request.id + ": " + error_text(error);
      return error;
    }
    batch.spills[i] = log::Spill{size, crc};
    any = true;
  }
  if (any) {
    if (int error = fs_.fsync_dir(dir_ / "data")) {
      what = "fsync data/: " + error_text(error);
      return error;
    }
  }
  return 0;
}

std::vector<fs::path> Spool::collect_garbage_locked() {
  // A segment goes when nothing in it is live, none of its hold/release records concerns a
  // live message, and every segment its done records retire is gone: otherwise a crash could
  // resurrect those messages (a repeat delivery, not a loss) or their hold state.
  std::vector<fs::path> garbage;
  for (bool changed = true; changed;) {
    changed = false;
    for (auto it = segments_.begin(); it != segments_.end();) {
      const auto& [seq, state] = *it;
      const bool needed =
          seq == current_segment_ || state.live != 0 || state.marks != 0 ||
          std::any_of(state.done_targets.begin(), state.done_targets.end(),
                      [this](std::uint64_t target) { return segments_.contains(target); });
      if (needed) {
        ++it;
        continue;
      }
      garbage.push_back(dir_ / "log" / log::segment_name(seq));
      it = segments_.erase(it);
      changed = true;
    }
  }
  return garbage;
}

void Spool::unlink_all(const std::vector<fs::path>& paths) {
  for (const auto& path : paths) {
    if (int error = fs_.unlink(path); error != 0 && error != ENOENT) {
      spdlog::warn("spool: unlink {}: {}", path.string(), error_text(error));
    }
  }
}

}  // namespace sealpost::queue
