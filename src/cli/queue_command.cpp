// `sealpost queue`: argument checks, one control-socket conversation per command (ids sent in
// requests of at most control::kMaxIds), per-id results printed one line each, and the
// mapping of outcomes to sysexits codes. Rendering lives in queue_view.cpp.
#include "cli/queue_command.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>
#include <ostream>
#include <span>

#include "cli/queue_view.hpp"
#include "control/client.hpp"
#include "queue/queue_id.hpp"
#include "sasl/base64.hpp"

namespace sealpost::cli {
namespace {

constexpr int kExitUsage = 64;        // EX_USAGE
constexpr int kExitNoUser = 67;       // EX_NOUSER: unknown queue id
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE: sealpostd not running
constexpr int kExitIoErr = 74;        // EX_IOERR: the spool could not record a change
constexpr int kExitNoPerm = 77;       // EX_NOPERM

// How a per-id result reads, and whether it is an error (printed on stderr).
struct Wording {
  const char* text;
  int exit = 0;
};
const std::map<std::string, Wording>& wordings() {
  static const std::map<std::string, Wording> kWordings = {
      {"held", {"held"}},
      {"already-held", {"already held"}},
      {"released", {"released"}},
      {"not-held", {"not held"}},
      {"deleted", {"deleted"}},
      {"flushed", {"flushed: due now"}},
      {"not-deferred", {"not deferred: nothing to flush"}},
      {"not-found", {"not in the queue", kExitNoUser}},
      {"invalid-id", {"not a queue id", kExitUsage}},
      {"failed", {"failed", kExitIoErr}},
  };
  return kWordings;
}

// The exit status for a failed status line from the daemon.
int refusal(const control::Json& status, std::ostream& err) {
  const std::string code = status.value("error", "");
  err << "sealpost: " << status.value("message", code) << "\n";
  if (code == control::error::kPermissionDenied) return kExitNoPerm;
  if (code == control::error::kNotFound) return kExitNoUser;
  if (code == control::error::kBadRequest) return kExitUsage;
  return kExitUnavailable;
}

int failure(const control::Client::Error& error, std::ostream& err) {
  err << "sealpost: " << error.message << "\n";
  return error.failure == control::Client::Failure::kPermission ? kExitNoPerm : kExitUnavailable;
}

int list(control::Client& client, bool json, std::ostream& out, std::ostream& err) {
  ListingPrinter printer(out, json);
  bool malformed = false;
  auto status = client.call({control::Command::kList, {}, false},
                            [&](std::string_view line) { malformed |= !printer.add(line); });
  if (!status) return failure(status.error(), err);
  if (!status->value("ok", false)) return refusal(*status, err);
  printer.finish();
  if (malformed) err << "sealpost: some lines of the reply were not understood\n";
  return malformed ? kExitUnavailable : 0;
}

int show(control::Client& client, const std::string& id, bool json, std::ostream& out,
         std::ostream& err) {
  std::string raw;
  auto status = client.call({control::Command::kShow, {id}, false},
                            [&](std::string_view line) { raw = line; });
  if (!status) return failure(status.error(), err);
  if (!status->value("ok", false)) return refusal(*status, err);
  const auto message = control::parse_message(raw);
  const control::Json data = control::Json::parse(raw, nullptr, /*allow_exceptions=*/false);
  std::optional<std::string> content;
  if (data.is_object() && data.contains("content_base64") && data["content_base64"].is_string()) {
    content = sasl::base64_decode(data["content_base64"].get<std::string>());
  }
  if (!message || !content) {
    err << "sealpost: the reply for " << id << " was not understood\n";
    return kExitUnavailable;
  }
  if (json) {
    out << raw << '\n';  // already the documented shape, content_base64 included
  } else {
    print_message(out, *message, data.value("envelope", control::Json()), *content, false);
  }
  return 0;
}

int change(control::Client& client, control::Command command, const std::vector<std::string>& ids,
           bool all, std::ostream& out, std::ostream& err) {
  int exit = 0;
  std::size_t done = 0;
  const auto on_result = [&](std::string_view line) {
    const control::Json data = control::Json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string id = data.is_object() ? data.value("queue_id", "?") : "?";
    const std::string result = data.is_object() ? data.value("result", "failed") : "failed";
    const auto it = wordings().find(result);
    const Wording wording = it != wordings().end() ? it->second : Wording{"failed", kExitIoErr};
    if (wording.exit != 0) {
      err << "sealpost: " << id << ": " << wording.text;
      if (data.contains("message")) err << ": " << data.value("message", "");
      err << "\n";
      exit = std::max(exit, wording.exit);
      return;
    }
    ++done;
    if (!all) out << id << ": " << wording.text << "\n";
  };
  const auto call = [&](control::Request request) -> std::optional<int> {
    auto status = client.call(request, on_result);
    if (!status) return failure(status.error(), err);
    if (!status->value("ok", false)) return refusal(*status, err);
    if (request.command == control::Command::kFlush && request.ids.empty()) {
      out << "flushed " << status->value("flushed", 0) << " deferred message(s): due now\n";
    }
    return std::nullopt;
  };
  if (all || (command == control::Command::kFlush && ids.empty())) {
    if (auto failed = call({command, {}, all})) return *failed;
    if (all)
      out << done << " message(s) " << (exit == 0 ? "deleted" : "deleted; see above") << "\n";
    return exit;
  }
  for (std::size_t start = 0; start < ids.size(); start += control::kMaxIds) {
    const auto chunk =
        std::span(ids).subspan(start, std::min(control::kMaxIds, ids.size() - start));
    if (auto failed =
            call({command, std::vector<std::string>(chunk.begin(), chunk.end()), false})) {
      return *failed;
    }
  }
  return exit;
}

}  // namespace

QueueCommand::QueueCommand(CLI::App& app) {
  queue_ = app.add_subcommand("queue", "inspect and control the queue (through sealpostd)");
  queue_->require_subcommand(1);
  list_ = queue_->add_subcommand("list", "list queued messages with their delivery status");
  list_->add_flag("--json", json_, "one JSON object per message (docs/control-protocol.md)");
  show_ = queue_->add_subcommand("show", "print one queued message: envelope, status, content");
  show_->add_option("id", ids_, "queue id")->required()->expected(1);
  show_->add_flag("--json", json_, "one JSON object, the content in base64");
  flush_ = queue_->add_subcommand("flush", "make deferred messages (all, or these) due now");
  flush_->add_option("ids", ids_, "queue ids");
  hold_ = queue_->add_subcommand("hold", "keep messages from delivery until released");
  hold_->add_option("ids", ids_, "queue ids")->required();
  release_ = queue_->add_subcommand("release", "release held messages");
  release_->add_option("ids", ids_, "queue ids")->required();
  delete_ = queue_->add_subcommand("delete", "delete messages from the queue");
  delete_->add_option("ids", ids_, "queue ids");
  delete_->add_flag("--all", all_, "delete every queued message");
}

bool QueueCommand::parsed() const { return queue_->parsed(); }

int QueueCommand::run(const config::Config& config, std::ostream& out, std::ostream& err) {
  for (const auto& id : ids_) {
    if (!queue::is_valid_queue_id(id)) {
      err << "sealpost: not a queue id: " << id << "\n";
      return kExitUsage;
    }
  }
  if (delete_->parsed() && all_ == !ids_.empty()) {
    err << "sealpost: queue delete: give queue ids or --all\n";
    return kExitUsage;
  }
  const control::Command command = list_->parsed()      ? control::Command::kList
                                   : show_->parsed()    ? control::Command::kShow
                                   : flush_->parsed()   ? control::Command::kFlush
                                   : hold_->parsed()    ? control::Command::kHold
                                   : release_->parsed() ? control::Command::kRelease
                                                        : control::Command::kDelete;
  auto client = control::Client::connect(config.control_socket());
  if (!client) {
    const bool read_only = command == control::Command::kList || command == control::Command::kShow;
    if (client.error().failure != control::Client::Failure::kNotRunning || !read_only) {
      return failure(client.error(), err);
    }
    err << "sealpost: sealpostd is not running: reading the spool (no delivery status)\n";
    return command == control::Command::kList ? list_spool(config, json_, out, err)
                                              : show_spool(config, ids_.front(), json_, out, err);
  }
  switch (command) {
    case control::Command::kList:
      return list(*client, json_, out, err);
    case control::Command::kShow:
      return show(*client, ids_.front(), json_, out, err);
    default:
      return change(*client, command, ids_, all_, out, err);
  }
}

}  // namespace sealpost::cli
