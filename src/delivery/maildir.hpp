// Maildir delivery (https://cr.yp.to/proto/maildir.html): write tmp/NAME, fsync, link/rename
// into new/NAME, fsync new/. NAME is derived from the queue id and recipient index, so a
// repeated delivery after a crash is detected (the file already exists) and skipped.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "delivery/outcome.hpp"

namespace sealpost::delivery {

class Maildir {
 public:
  explicit Maildir(std::filesystem::path root) : root_(std::move(root)) {}

  // Creates root/{tmp,new,cur} (0700) when missing, then delivers `content` byte-exact.
  // Returns Delivered also when this (queue_id, rcpt_index) was already delivered.
  Outcome deliver(std::string_view queue_id, unsigned rcpt_index, std::string_view content) const;

  // The file name used for (queue_id, rcpt_index): "<secs>.Q<queue_id>R<idx>.<host>".
  static std::string file_name(std::string_view queue_id, unsigned rcpt_index);

 private:
  std::filesystem::path root_;
};

}  // namespace sealpost::delivery
