// The control protocol's requests and status lines (docs/control-protocol.md): one JSON object
// per line each way. A reply is zero or more data lines and then one status line, the only
// line with an "ok" member. Parsing and building only; no sockets.
#pragma once

#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "control/message_info.hpp"

namespace sealpost::control {

// A request line longer than this is refused ("too-large") and the connection closed: the
// server never buffers unbounded input. 1000 ids of 21 characters fit easily.
constexpr std::size_t kMaxRequestSize = 64 * 1024;
constexpr std::size_t kMaxIds = 1000;  // per request; the CLI sends more in several requests

enum class Command { kList, kShow, kFlush, kHold, kRelease, kDelete };
std::string_view command_name(Command command);

struct Request {
  Command command = Command::kList;
  std::vector<std::string> ids;  // show: exactly one; flush: none = every deferred message
  bool all = false;              // delete only: every message, instead of ids
};

// Error codes of a failed status line.
namespace error {
constexpr std::string_view kBadRequest = "bad-request";
constexpr std::string_view kTooLarge = "too-large";
constexpr std::string_view kPermissionDenied = "permission-denied";
constexpr std::string_view kBusy = "busy";
constexpr std::string_view kNotFound = "not-found";
constexpr std::string_view kInternal = "internal";
}  // namespace error

struct RequestError {
  std::string_view code;
  std::string message;
};

std::expected<Request, RequestError> parse_request(std::string_view line);
Json to_json(const Request& request);

// Status lines.
Json ok_status(std::size_t count);  // {"ok":true,"count":N}: N data lines came before
Json error_status(std::string_view code, std::string_view message);

}  // namespace sealpost::control
