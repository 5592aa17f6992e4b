// The durable spool: an append-only log of segment files (log/<seq>.seg) written by one
// committer thread with group commit — every message submitted while the previous batch was
// syncing goes into the next batch, one pwritev and one fdatasync for all of them. Large
// bodies are spilled to data/ID first. Only after the sync does a submitter hear "durable"
// and may the server say 250. Queue control (hold, release, delete) rides the same batches.
// Format and rules: docs/queue-format.md.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "queue/envelope.hpp"
#include "queue/file_system.hpp"
#include "queue/spool_scan.hpp"

namespace sealpost::queue {

struct CommitResult {
  int error = 0;     // 0 = durable; else the errno of the first failing step
  std::string what;  // "fdatasync log/0000000000000003.seg: No space left on device"
  bool ok() const { return error == 0; }
};

// A message to commit. The parts (concatenated: typically Received header and body) are
// written from the submitter's memory: they must stay valid until `done` has been called.
struct CommitRequest {
  std::string id;
  Envelope envelope;
  std::vector<std::string_view> parts;
};

class Spool {
 public:
  struct Options {
    // Larger contents go to data/ID. Below it a body rides the batch's one pwritev and one
    // fdatasync; above it each costs a file, its own fdatasync and a directory sync.
    std::size_t spill_threshold = 1024 * 1024;
    std::uint64_t segment_size = 64u << 20;  // start a new segment past this size
    // A plain done record (see remove()) wakes nobody: it waits up to this long for a batch
    // that is written anyway, else it is written on its own.
    std::chrono::milliseconds done_delay{10};
  };

  // Creates <dir>, <dir>/log and <dir>/data (mode 0700) when missing and starts the committer
  // thread. Throws std::system_error if it cannot. New segments are numbered after every
  // segment already present; call recover() before submitting to take those over.
  explicit Spool(std::filesystem::path dir, FileSystem& fs = real_file_system());
  Spool(std::filesystem::path dir, FileSystem& fs, Options options);
  // Commits what was submitted, syncs pending done records, joins the committer.
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Scans the log (docs/queue-format.md, "Recovery"), indexes every committed message without
  // a done record, unlinks segments and spilled bodies nothing live needs any more, and
  // returns the live ids oldest first. Torn or corrupt records are logged and never delivered.
  std::vector<std::string> recover();

  // Non-blocking: queues the request for the next batch. `done` runs once, on the committer
  // thread (or at once on the caller's, for an invalid request), after the message is durable
  // or the batch failed; keep it cheap (post back to your own executor).
  void submit(CommitRequest request, std::function<void(CommitResult)> done);

  // Blocking convenience over submit() (tests, tools).
  CommitResult commit(const std::string& id, const Envelope& envelope,
                      std::span<const std::string_view> parts);

  // Reads and verifies a committed message. nullopt if unknown or corrupt (logged).
  std::optional<StoredMessage> load(const std::string& id) const;

  // Marks a message delivered: it leaves the index at once; its done record is written with
  // the next batch, within Options::done_delay (not synced on its own: a lost done record
  // means one repeat delivery, which Maildir names detect). Only the done record of a message
  // with a spilled body or hold/release/finished records, which is synced, makes a batch of
  // its own at once. Returns 0, EINVAL or ENOENT.
  int remove(const std::string& id);

  // Queue control (docs/queue-format.md, "Queue control"). Non-blocking like submit(): `done`
  // runs once, on the committer thread after the record is durable or its batch failed, or at
  // once on the caller's for EINVAL (bad id) and ENOENT (not queued). Many calls made together
  // share one batch and one fdatasync.
  //  - kHold / kRelease: a hold or release record. Nothing is written (and `done` runs at once
  //    with success) when the message already is held / is not held.
  //  - kDelete: the message leaves the index at once, like remove(); its delete record is
  //    synced. If that batch fails, `done` hears the error and the record is retried with the
  //    next batch (the message stays gone from this process either way).
  enum class Control { kHold, kRelease, kDelete };
  void control(Control action, const std::string& id, std::function<void(CommitResult)> done);
  // Blocking convenience over control() (tests, tools).
  CommitResult control(Control action, const std::string& id);
  // Whether the message's last durable hold/release record is a hold.
  bool is_held(const std::string& id) const;

  // Records that these recipients (indexes into the envelope's recipients) of a live message
  // are finished — delivered, or failed and reported — so that after a restart only the others
  // are attempted. Non-blocking like remove(): the record rides the next batch and is not
  // synced on its own (a lost one means a repeat attempt for those recipients, never a loss).
  // Returns 0, EINVAL (bad id, no recipients) or ENOENT.
  int finish_recipients(const std::string& id, std::vector<std::uint32_t> rcpts);
  // The index that names no recipient but the message's delay warning: done (sent, or owed to
  // nobody), so a restart does not send a second one. A version that predates it ignores it
  // like any index beyond the recipient count.
  static constexpr std::uint32_t kDelayWarningIndex = 0xFFFFFFFF;
  // The recipients recorded as finished for a live message (recovered or recorded since),
  // ascending.
  std::vector<std::uint32_t> finished_recipients(const std::string& id) const;

  // Every live message with its location, held flag and finished recipients (no envelope),
  // oldest first: a listing reads the envelopes from there with an EnvelopeReader, without
  // holding any lock.
  std::vector<QueuedMessage> snapshot() const;

  // Live ids, oldest first.
  std::vector<std::string> queued_ids() const;
  // Segment files currently kept (tests, status).
  std::size_t segment_count() const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  struct Pending {
    CommitRequest request;
    std::function<void(CommitResult)> done;
  };
  struct DoneMark {
    MessageKey key;
    std::uint64_t segment;  // where the message record is
    bool spilled;
    bool deleted = false;                      // a delete record, synced, rather than done
    std::function<void(CommitResult)> done{};  // kDelete's caller, told once
    // Synced even as a plain done record: it frees segments holding the message's hold and
    // release records, and a crash must not bring the message back with only some of them.
    bool had_marks = false;
  };
  struct HoldMark {
    MessageKey key;
    bool hold;  // else release
    std::function<void(CommitResult)> done;
  };
  struct FinishedMark {
    MessageKey key;
    std::vector<std::uint32_t> rcpts;
  };
  // The hold/release and finished records of a live message: its state and the segments
  // holding them, each of which must be kept while the message is live
  // (docs/queue-format.md).
  struct Marks {
    bool held = false;
    std::vector<std::uint32_t> finished;  // ascending
    std::vector<std::uint64_t> segments;
  };
  struct Batch;

  void run_committer();
  // Whether a batch must be written now; plain done records alone can wait (done_delay).
  bool batch_due_locked() const {
    return !queue_.empty() || !holds_.empty() || !finished_.empty() || urgent_dones_ != 0;
  }
  void write_batch(std::vector<Pending>& pending, std::vector<DoneMark>& dones,
                   std::vector<HoldMark>& holds, std::vector<FinishedMark>& finished);
  void forget_marks_locked(const MessageKey& key);
  int open_segment(std::string& what);
  void seal_segment();
  void roll_back(std::uint64_t batch_start);
  int write_spills(Batch& batch, std::string& what);
  std::vector<std::filesystem::path> collect_garbage_locked();
  void unlink_all(const std::vector<std::filesystem::path>& paths);
  std::filesystem::path data_path(const std::string& id) const { return dir_ / "data" / id; }

  const std::filesystem::path dir_;
  FileSystem& fs_;
  const Options options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Pending> queue_;
  std::vector<DoneMark> dones_;
  std::size_t urgent_dones_ = 0;  // of dones_: delete records and done records to be synced
  std::vector<HoldMark> holds_;
  std::vector<FinishedMark> finished_;
  bool stopping_ = false;
  std::unordered_map<MessageKey, Location, MessageKeyHash> index_;
  // Only messages ever held or with finished recipients.
  std::unordered_map<MessageKey, Marks, MessageKeyHash> marks_;
  std::map<std::uint64_t, SegmentState> segments_;
  std::uint64_t current_segment_ = 0;  // 0 = none open
  std::uint64_t first_own_segment_ = 0;
  std::set<std::string> spilling_;  // data/ID being written by the committer

  // Committer thread only.
  std::uint64_t next_segment_ = 1;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  bool dirty_ = false;             // written since the last fdatasync
  std::vector<DoneMark> carried_;  // done records of a failed batch, retried with the next
  std::vector<FinishedMark> carried_finished_;  // likewise finished records

  std::thread committer_;
};

}  // namespace sealpost::queue
