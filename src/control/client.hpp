// The CLI's end of the control socket: connect, send one request line, read the data lines and
// the status line of its reply (docs/control-protocol.md). Tells "the daemon is not running"
// and "not allowed" apart from other failures, so `sealpost queue` can fall back or exit with
// the right sysexits code.
#pragma once

#include <chrono>
#include <expected>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "control/protocol.hpp"

namespace sealpost::control {

class Client {
 public:
  enum class Failure {
    kNotRunning,  // no socket, or nothing listening on it (ENOENT, ECONNREFUSED)
    kPermission,  // the socket or its directory is not ours to use (EACCES, EPERM)
    kBroken,      // anything else: a timeout, a malformed reply, the daemon went away
  };
  struct Error {
    Failure failure;
    std::string message;
  };

  static std::expected<Client, Error> connect(
      const std::filesystem::path& socket,
      std::chrono::milliseconds timeout = std::chrono::seconds(60));
  Client(Client&& other) noexcept;
  Client& operator=(Client&&) = delete;
  ~Client();

  // Sends the request, gives each data line of the reply to on_data as it is (the caller
  // parses what it needs: `list --json` copies lines through untouched), and returns the
  // status line, parsed.
  using DataFn = std::function<void(std::string_view line)>;
  std::expected<Json, Error> call(const Request& request, const DataFn& on_data);

 private:
  explicit Client(int fd) : fd_(fd) {}
  int fd_;
  std::string buffer_;
};

}  // namespace sealpost::control
