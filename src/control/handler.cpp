// The control handler: list streams one line per live message (spool snapshot + envelope read
// from its record + scheduler status, merged in id order, no lock held while reading), show
// adds the content, and hold/release/delete/flush go through the scheduler, which records them
// in the spool. Every change is logged with the message id and who asked.
#include "control/handler.hpp"

#include <spdlog/spdlog.h>

#include "queue/spool_scan.hpp"
#include "sasl/base64.hpp"

namespace sealpost::control {
namespace {

using Result = delivery::Scheduler::Result;

std::string_view result_name(Command command, Result result) {
  switch (result) {
    case Result::kDone:
      switch (command) {
        case Command::kHold:
          return "held";
        case Command::kRelease:
          return "released";
        case Command::kDelete:
          return "deleted";
        default:
          return "flushed";
      }
    case Result::kUnchanged:
      switch (command) {
        case Command::kHold:
          return "already-held";
        case Command::kRelease:
          return "not-held";
        default:
          return "not-deferred";
      }
    case Result::kHeld:
      return "held";
    case Result::kNotQueued:
      return "not-found";
    case Result::kInvalid:
      return "invalid-id";
    case Result::kFailed:
      return "failed";
  }
  return "failed";
}

}  // namespace

std::string Peer::describe() const {
  const std::string ids = "uid " + std::to_string(uid) + ", pid " + std::to_string(pid);
  return user.empty() ? ids : user + " (" + ids + ")";
}

void Handler::handle(std::string_view line, const Peer& peer, LineSink& out) {
  auto request = parse_request(line);
  if (!request) {
    spdlog::warn("control: bad request from {}: {}", peer.describe(), request.error().message);
    out.line(dump(error_status(request.error().code, request.error().message)));
    return;
  }
  switch (request->command) {
    case Command::kList:
      return list(out);
    case Command::kShow:
      return show(request->ids.front(), out);
    case Command::kFlush:
      if (request->ids.empty()) return flush_all(peer, out);
      return change(*request, peer, out);
    case Command::kHold:
    case Command::kRelease:
    case Command::kDelete:
      return change(*request, peer, out);
  }
}

void Handler::list(LineSink& out) {
  std::vector<queue::QueuedMessage> messages = spool_.snapshot();
  const auto statuses = scheduler_.statuses();  // sorted by id, as the snapshot is
  queue::EnvelopeReader reader(spool_.dir());
  auto status = statuses.begin();
  std::size_t count = 0;
  MessageInfo info;  // reused, with its JSON tree: no allocation storm per message
  Json json;
  for (auto& message : messages) {
    if (!reader.read(message)) continue;  // delivered or deleted since the snapshot
    const std::string id = message.key.id();
    while (status != statuses.end() && status->first < id) ++status;
    const bool known = status != statuses.end() && status->first == id;
    describe(id, message.envelope, message.size, message.held, known ? &status->second : nullptr,
             message.finished, info);
    assign_json(info, json);
    if (!out.line(dump(json))) return;
    ++count;
  }
  out.line(dump(ok_status(count)));
}

void Handler::show(const std::string& id, LineSink& out) {
  const auto message = spool_.load(id);
  if (!message) {
    out.line(dump(error_status(error::kNotFound, id + ": not in the queue")));
    return;
  }
  const auto status = scheduler_.status(id);
  Json json = to_json(describe(id, message->envelope, message->content.size(), spool_.is_held(id),
                               status ? &*status : nullptr, spool_.finished_recipients(id)));
  json["envelope"] = envelope_json(message->envelope);
  json["content_base64"] = sasl::base64_encode(message->content);
  if (out.line(dump(json))) out.line(dump(ok_status(1)));
}

void Handler::flush_all(const Peer& peer, LineSink& out) {
  const std::size_t flushed = scheduler_.flush();
  spdlog::info("control: flush by {}: {} deferred message(s) due now", peer.describe(), flushed);
  Json status = ok_status(0);
  status["flushed"] = flushed;
  out.line(dump(status));
}

void Handler::change(const Request& request, const Peer& peer, LineSink& out) {
  const std::vector<std::string> ids = request.all ? spool_.queued_ids() : request.ids;
  std::vector<delivery::Scheduler::ControlResult> results;
  switch (request.command) {
    case Command::kHold:
      results = scheduler_.hold(ids);
      break;
    case Command::kRelease:
      results = scheduler_.release(ids);
      break;
    case Command::kDelete:
      results = scheduler_.delete_messages(ids);
      break;
    default:
      results = scheduler_.flush(ids);
      break;
  }
  const std::string who = peer.describe();
  const std::string_view verb = command_name(request.command);
  bool listening = true;  // the client may go away: every change is still logged
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& r = results[i];
    const std::string_view name = result_name(request.command, r.result);
    if (r.result == Result::kFailed) {
      spdlog::error("control: {} {} by {} failed: {}", verb, ids[i], who, r.what);
    } else if (r.result == Result::kDone) {
      spdlog::info("control: {} {} by {}", name, ids[i], who);
    } else {
      spdlog::info("control: {} {} by {}: {}", verb, ids[i], who, name);
    }
    if (!listening) continue;
    Json line{{"queue_id", ids[i]}, {"result", name}};
    if (r.result == Result::kFailed) line["message"] = r.what;
    listening = out.line(dump(line));
  }
  if (listening) out.line(dump(ok_status(ids.size())));
}

}  // namespace sealpost::control
