// The durable spool: one file per message holding envelope and body as typed, length-prefixed
// records with a CRC32 end record (docs/queue-format.md). A message is committed by writing
// tmp/ID, fdatasync, rename into queue/ID and fsync of queue/ — only then may the server say
// 250. Group commit (issue 4) will change how commit() batches, not what it promises.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "queue/envelope.hpp"
#include "queue/file_system.hpp"

namespace sealpost::queue {

struct CommitResult {
  int error = 0;     // 0 = durable; else the errno of the first failing step
  std::string what;  // "write tmp/ID: No space left on device" — for the log
  bool ok() const { return error == 0; }
};

struct StoredMessage {
  std::string id;
  Envelope envelope;
  std::string content;  // the message as it will be delivered (Received header included)
};

class Spool {
 public:
  // Creates <dir>/tmp and <dir>/queue (mode 0700) when missing. Throws std::system_error if
  // it cannot.
  explicit Spool(std::filesystem::path dir, FileSystem& fs = real_file_system());

  // Removes partial files left in tmp/ by a crash (logging each) and returns the ids of
  // committed messages found in queue/, oldest first. Files in queue/ that fail to parse
  // (torn or corrupt) are moved to corrupt/ and logged, never delivered.
  std::vector<std::string> recover();

  // Writes the message durably under `id`. The content is the concatenation of `parts`
  // (typically the Received header and the body). Blocking: call it off the event loop.
  // On failure nothing remains in tmp/ or queue/.
  CommitResult commit(const std::string& id, const Envelope& envelope,
                      std::span<const std::string_view> parts);

  // Reads and verifies a committed message. nullopt if missing or corrupt (logged).
  std::optional<StoredMessage> load(const std::string& id) const;

  // Removes a delivered message (unlink + fsync of queue/). Returns an errno value or 0.
  int remove(const std::string& id);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  FileSystem& fs_;
};

}  // namespace sealpost::queue
