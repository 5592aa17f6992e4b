// Control client: a blocking unix-socket connection with SO_RCVTIMEO/SO_SNDTIMEO, reply lines
// split at LF and parsed one by one (a listing of 100,000 messages is streamed, not buffered).
#include "control/client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "control/socket_address.hpp"

namespace sealpost::control {
namespace {

std::string error_text(int error) {
  const char* text = ::strerrordesc_np(error);
  return text != nullptr ? text : "errno " + std::to_string(error);
}

// The status line is the only one with an "ok" member, and the server always writes it
// first (docs/control-protocol.md), so data lines need not be parsed to be told apart.
constexpr std::string_view kStatusPrefix = "{\"ok\":";

Client::Error broken(std::string message) { return {Client::Failure::kBroken, std::move(message)}; }

}  // namespace

std::expected<Client, Client::Error> Client::connect(const std::filesystem::path& socket,
                                                     std::chrono::milliseconds timeout) {
  const std::string path = socket.string();
  int fd = -1;
  int error = 0;
  try {
    const SocketAddress address(socket);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || ::connect(fd, address.get(), address.size()) != 0) error = errno;
  } catch (const std::system_error& e) {
    error = e.code().value();
  }
  if (error != 0) {
    if (fd >= 0) ::close(fd);
    if (error == ENOENT || error == ECONNREFUSED) {
      return std::unexpected(Error{Failure::kNotRunning,
                                   "sealpostd is not running (nothing listens on " + path + ")"});
    }
    if (error == EACCES || error == EPERM) {
      return std::unexpected(
          Error{Failure::kPermission, "permission denied: " + path +
                                          " (the control socket is for root and the user "
                                          "sealpostd runs as)"});
    }
    return std::unexpected(broken("cannot connect to " + path + ": " + error_text(error)));
  }
  const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return Client(fd);
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

std::expected<Json, Client::Error> Client::call(const Request& request, const DataFn& on_data) {
  std::string line = dump(to_json(request));
  line.push_back('\n');
  int send_error = 0;
  for (std::size_t done = 0; done < line.size();) {
    const ssize_t n = ::send(fd_, line.data() + done, line.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A refusal (permission-denied, busy) is written and the socket shut at once: read it.
      send_error = n < 0 ? errno : EPIPE;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  std::size_t pos = 0;      // where the next line starts in buffer_
  std::size_t scanned = 0;  // buffer_ has no LF between pos and this
  for (;;) {
    const std::size_t end = buffer_.find('\n', std::max(pos, scanned));
    if (end == std::string::npos) {
      buffer_.erase(0, pos);  // once per read, not once per line
      pos = 0;
      scanned = buffer_.size();
      char chunk[64 * 1024];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return std::unexpected(broken("no reply from sealpostd (timed out)"));
      }
      if (n <= 0 && send_error != 0) {
        return std::unexpected(broken("sending the request: " + error_text(send_error)));
      }
      if (n < 0) return std::unexpected(broken("reading the reply: " + error_text(errno)));
      if (n == 0) return std::unexpected(broken("sealpostd closed the connection mid-reply"));
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    const std::string_view text(buffer_.data() + pos, end - pos);
    if (text.starts_with(kStatusPrefix)) {
      Json status = Json::parse(text, nullptr, /*allow_exceptions=*/false);
      if (!status.is_object()) return std::unexpected(broken("malformed reply from sealpostd"));
      buffer_.erase(0, end + 1);
      return status;
    }
    on_data(text);
    pos = end + 1;
  }
}

}  // namespace sealpost::control
