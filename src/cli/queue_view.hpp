// How `sealpost queue list|show` print messages: text for people (one block per message, a
// summary line) or JSON Lines in the shape of docs/control-protocol.md, streamed as they come.
// Also the read-only view straight from the spool files, used when sealpostd is not running.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "control/message_info.hpp"

namespace sealpost::cli {

class ListingPrinter {
 public:
  ListingPrinter(std::ostream& out, bool json) : out_(out), json_(json) {}
  void add(const control::MessageInfo& message);
  // A data line from the daemon: copied as it is in JSON mode (the daemon wrote it in the
  // documented shape), parsed for text. False if text was wanted and it is no message object.
  bool add(std::string_view line);
  void finish();  // text: "-- N messages, B bytes" or "Mail queue is empty"

 private:
  std::ostream& out_;
  bool json_;
  std::uint64_t count_ = 0;
  std::uint64_t bytes_ = 0;
  control::MessageInfo scratch_;  // reused for every message
  control::Json json_tree_;
  std::string text_;
};

// `show`: text (a header block, a blank line, the exact content) or one JSON object with
// `envelope` (control::envelope_json) and content_base64. `envelope` may be null (a daemon
// from before it existed): then no parameters are shown.
void print_message(std::ostream& out, const control::MessageInfo& message,
                   const control::Json& envelope, std::string_view content, bool json);

// Read-only, from the spool files (status is held or queued: retry state lives in the
// daemon). Exit status per sysexits(3): 0, 67 unknown id, 77 spool not readable.
int list_spool(const config::Config& config, bool json, std::ostream& out, std::ostream& err);
int show_spool(const config::Config& config, const std::string& id, bool json, std::ostream& out,
               std::ostream& err);

}  // namespace sealpost::cli
