// Control socket server: an accept thread (poll on the socket and a stop eventfd) and one
// thread per connection, at most max_clients. A connection thread checks the peer's uid, then
// reads request lines (each within read_timeout, at most kMaxRequestSize bytes: "lines are
// bounded, never buffered without limit") and answers each through the Handler.
#include "control/server.hpp"

#include <poll.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "control/socket_address.hpp"

namespace sealpost::control {
namespace {

using Clock = std::chrono::steady_clock;

const char* error_text(int error) {
  const char* text = ::strerrordesc_np(error);  // thread-safe, unlike strerror
  return text != nullptr ? text : "unknown error";
}

std::string user_name(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  std::vector<char> buffer(4096);
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return entry.pw_name;
  }
  return {};
}

void set_timeout(int fd, int option, std::chrono::milliseconds timeout) {
  const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

// Waits for bytes from the client until `deadline` and reads what has come into `chunk`.
// 0 at its EOF, at the deadline, at a stop (stop_fd readable) or on an error.
std::size_t receive_before(int fd, int stop_fd, Clock::time_point deadline, std::span<char> chunk) {
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return 0;
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int ready = ::poll(fds, 2, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0 || fds[1].revents != 0) return 0;
    const ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
}

// After a refusal: the reply is out, now let the client finish writing its request before the
// end. Closing with its request still unsent would fail that write (EPIPE) before it could read
// why it was refused. Reads and drops until the client's EOF, a stop, the cap or `limit`.
void drain_then_end(int fd, int stop_fd, std::chrono::milliseconds limit) {
  ::shutdown(fd, SHUT_WR);
  const auto deadline = Clock::now() + limit;
  std::size_t dropped = 0;
  char chunk[4096];
  while (dropped <= kMaxRequestSize) {
    const std::size_t n = receive_before(fd, stop_fd, deadline, chunk);
    if (n == 0) return;
    dropped += n;
  }
}

// Reply lines, buffered and sent in chunks of about 64 KiB; SO_SNDTIMEO bounds each send.
class SocketSink : public LineSink {
 public:
  explicit SocketSink(int fd) : fd_(fd) {}
  bool line(std::string_view json) override {
    if (failed_) return false;
    buffer_.append(json);
    buffer_.push_back('\n');
    return buffer_.size() < kChunk || flush();
  }
  bool flush() {
    std::size_t done = 0;
    while (!failed_ && done < buffer_.size()) {
      const ssize_t n = ::send(fd_, buffer_.data() + done, buffer_.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) failed_ = true;  // gone, timed out, or cut by stop()
      if (n > 0) done += static_cast<std::size_t>(n);
    }
    buffer_.clear();
    return !failed_;
  }

 private:
  static constexpr std::size_t kChunk = 64 * 1024;
  int fd_;
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace

Server::Server(Options options) : options_(std::move(options)), own_uid_(::geteuid()) {
  const SocketAddress address(options_.path);
  const std::string path = options_.path.string();
  // Two daemons on one spool would corrupt it: a socket that answers means one is running.
  if (int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); probe >= 0) {
    const bool live = ::connect(probe, address.get(), address.size()) == 0;
    ::close(probe);
    if (live) throw std::runtime_error("another sealpostd is running: " + path + " answers");
  }
  ::unlink(address.path());  // a stale socket left by a crash
  const auto fail = [this, &path](const char* step, int error) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (stop_fd_ >= 0) ::close(stop_fd_);
    throw std::system_error(error, std::generic_category(),
                            std::string("control socket: ") + step + " " + path);
  };
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) fail("socket", errno);
  // Born 0600, so there is no moment at which another user could connect.
  const mode_t old_mask = ::umask(0177);
  const int bound = ::bind(listen_fd_, address.get(), address.size());
  const int bind_error = errno;
  ::umask(old_mask);
  if (bound != 0) fail("bind", bind_error);
  if (::chmod(address.path(), 0600) != 0) fail("chmod", errno);
  if (::listen(listen_fd_, 16) != 0) fail("listen", errno);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd_ < 0) fail("eventfd", errno);
}

Server::~Server() { stop(); }

void Server::start(Handler& handler) {
  handler_ = &handler;
  acceptor_ = std::thread(&Server::accept_loop, this);
  spdlog::info("control: listening on {}", options_.path.string());
}

void Server::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
  }
  const std::uint64_t one = 1;
  if (::write(stop_fd_, &one, sizeof one) < 0) {
    spdlog::error("control: cannot signal stop: {}", error_text(errno));
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::list<Client> clients;
  {
    std::lock_guard lock(mutex_);
    for (auto& client : clients_) {
      if (!client.finished) ::shutdown(client.fd, SHUT_RDWR);
    }
    clients.splice(clients.end(), clients_);  // nodes (and references to them) stay put
  }
  for (auto& client : clients) {
    client.thread.join();
    ::close(client.fd);
  }
  ::close(listen_fd_);
  ::close(stop_fd_);
  const SocketAddress address(options_.path);
  ::unlink(address.path());
}

void Server::reap_locked(bool all) {
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (!all && !it->finished) {
      ++it;
      continue;
    }
    it->thread.join();  // finished: the thread only has to return
    ::close(it->fd);
    it = clients_.erase(it);
  }
}

void Server::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control: poll: {}; no longer accepting", error_text(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED) {
        spdlog::warn("control: accept: {}", error_text(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));  // EMFILE: do not spin
      }
      continue;
    }
    std::lock_guard lock(mutex_);
    reap_locked(false);
    if (clients_.size() >= options_.max_clients) {
      spdlog::warn("control: {} connections open; refusing another", clients_.size());
      set_timeout(fd, SO_SNDTIMEO, std::chrono::milliseconds(1000));
      SocketSink sink(fd);
      sink.line(dump(error_status(error::kBusy, "too many control connections; try again")));
      sink.flush();
      ::close(fd);
      continue;
    }
    Client& client = clients_.emplace_back(Client{fd, {}, false});
    client.thread = std::thread(&Server::serve, this, std::ref(client));
  }
}

void Server::serve(Client& client) {
  const int fd = client.fd;
  set_timeout(fd, SO_SNDTIMEO, options_.write_timeout);
  SocketSink sink(fd);
  ucred cred{};
  socklen_t length = sizeof cred;
  const bool known = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0;
  Peer peer{cred.uid, cred.pid, known ? user_name(cred.uid) : std::string()};
  // "root/admin only": the socket's mode keeps others out already; this holds even if the
  // socket or its directory is made accessible to more users than that.
  if (!known || (cred.uid != 0 && cred.uid != own_uid_)) {
    spdlog::warn("control: refused {}: only root and uid {} (sealpostd's own) may use {}",
                 known ? peer.describe() : "a peer of unknown uid", own_uid_,
                 options_.path.string());
    sink.line(dump(error_status(error::kPermissionDenied,
                                "permission denied: only root and the user sealpostd runs as "
                                "may use the control socket")));
    if (sink.flush()) drain_then_end(fd, stop_fd_, std::chrono::seconds(1));
  } else {
    std::string buffer;
    auto deadline = Clock::now() + options_.read_timeout;
    bool open = true;
    while (open) {
      std::size_t start = 0;
      for (std::size_t end; open && (end = buffer.find('\n', start)) != std::string::npos;
           start = end + 1) {
        std::string_view line(buffer.data() + start, end - start);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // typed via socat
        if (line.empty()) continue;
        try {
          handler_->handle(line, peer, sink);
        } catch (const std::exception& e) {
          // A bug or an allocation failure: this request fails, the daemon carries on.
          spdlog::error("control: request from {} failed: {}", peer.describe(), e.what());
          sink.line(dump(error_status(error::kInternal, e.what())));
        }
        open = sink.flush();
        deadline = Clock::now() + options_.read_timeout;
      }
      buffer.erase(0, start);
      if (!open) break;
      if (buffer.size() > kMaxRequestSize) {
        spdlog::warn("control: request from {} longer than {} bytes; closing", peer.describe(),
                     kMaxRequestSize);
        sink.line(dump(error_status(error::kTooLarge, "request longer than 64 KiB")));
        sink.flush();
        break;
      }
      // Idle or too slow (the CLI sends its line at once), closed, stopped, or an error: the end.
      char chunk[4096];
      const std::size_t n = receive_before(fd, stop_fd_, deadline, chunk);
      if (n == 0) break;
      buffer.append(chunk, n);
    }
  }
  // The peer sees the end now; the descriptor itself is closed by whoever joins this thread,
  // so stop() can never shut down a number that has been reused meanwhile.
  ::shutdown(fd, SHUT_RDWR);
  std::lock_guard lock(mutex_);
  client.finished = true;
}

}  // namespace sealpost::control
