// Request validation: strict, so that a typo in a hand-written request is an error rather than
// a different action (an unknown member, an id that is not one, "all" anywhere but delete).
#include "control/protocol.hpp"

#include <set>

#include "queue/queue_id.hpp"

namespace sealpost::control {
namespace {

constexpr std::string_view kCommandNames[] = {"list", "show", "flush", "hold", "release", "delete"};

std::unexpected<RequestError> bad(std::string message) {
  return std::unexpected(RequestError{error::kBadRequest, std::move(message)});
}

}  // namespace

std::string_view command_name(Command command) { return kCommandNames[static_cast<int>(command)]; }

std::expected<Request, RequestError> parse_request(std::string_view line) {
  if (line.size() > kMaxRequestSize) {
    return std::unexpected(RequestError{error::kTooLarge, "request longer than 64 KiB"});
  }
  const Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return bad("a request is one JSON object on one line");
  const auto command = json.find("command");
  if (command == json.end() || !command->is_string()) return bad("\"command\" missing");
  Request request;
  bool known = false;
  for (int i = 0; i < 6; ++i) {
    if (kCommandNames[i] == command->get_ref<const std::string&>()) {
      request.command = static_cast<Command>(i);
      known = true;
    }
  }
  if (!known) return bad("unknown command \"" + command->get<std::string>() + "\"");

  const std::set<std::string> allowed = [&]() -> std::set<std::string> {
    switch (request.command) {
      case Command::kList:
        return {"command"};
      case Command::kShow:
        return {"command", "id"};
      case Command::kDelete:
        return {"command", "ids", "all"};
      default:
        return {"command", "ids"};
    }
  }();
  for (const auto& [key, value] : json.items()) {
    if (!allowed.contains(key)) return bad("unexpected member \"" + key + "\"");
  }

  const auto take_id = [&request](const Json& value) -> std::optional<RequestError> {
    if (!value.is_string()) return RequestError{error::kBadRequest, "a queue id is a string"};
    const auto& id = value.get_ref<const std::string&>();
    if (!queue::is_valid_queue_id(id)) {
      return RequestError{error::kBadRequest, "not a queue id: " + value.dump()};
    }
    request.ids.push_back(id);
    return std::nullopt;
  };
  if (request.command == Command::kShow) {
    const auto id = json.find("id");
    if (id == json.end()) return bad("\"id\" missing");
    if (auto problem = take_id(*id)) return std::unexpected(*problem);
    return request;
  }
  if (const auto all = json.find("all"); all != json.end()) {
    if (!all->is_boolean()) return bad("\"all\" is true or false");
    request.all = all->get<bool>();
  }
  const auto ids = json.find("ids");
  if (ids != json.end()) {
    if (!ids->is_array() || ids->empty()) return bad("\"ids\" is a non-empty array");
    if (ids->size() > kMaxIds) return bad("at most 1000 ids per request");
    for (const auto& id : *ids) {
      if (auto problem = take_id(id)) return std::unexpected(*problem);
    }
  }
  if (request.all && !request.ids.empty()) return bad("\"all\" and \"ids\" together");
  const bool ids_needed = request.command == Command::kHold ||
                          request.command == Command::kRelease ||
                          (request.command == Command::kDelete && !request.all);
  if (ids_needed && request.ids.empty()) {
    return bad(request.command == Command::kDelete ? "\"ids\" missing (or \"all\": true)"
                                                   : "\"ids\" missing");
  }
  return request;
}

Json to_json(const Request& request) {
  Json json{{"command", command_name(request.command)}};
  if (request.command == Command::kShow) {
    json["id"] = request.ids.empty() ? std::string() : request.ids.front();
  } else if (request.all) {
    json["all"] = true;
  } else if (!request.ids.empty()) {
    json["ids"] = request.ids;
  }
  return json;
}

Json ok_status(std::size_t count) { return Json{{"ok", true}, {"count", count}}; }

Json error_status(std::string_view code, std::string_view message) {
  return Json{{"ok", false}, {"error", code}, {"message", message}};
}

}  // namespace sealpost::control
