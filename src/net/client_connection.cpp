// ClientConnection: non-blocking socket + poll(2) against one deadline, OpenSSL driven on the
// same descriptor (WANT_READ/WANT_WRITE wait on poll). A server that sends nothing, or sends a
// byte a minute, cannot keep the caller past its deadline.
#include "net/client_connection.hpp"

#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <thread>

namespace sealpost::net {

namespace {

struct AddrInfoFree {
  void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoFree>;

ConnectError classify(int error) {
  switch (error) {
    case ECONNREFUSED:
      return ConnectError::kRefused;
    case ETIMEDOUT:
      return ConnectError::kTimeout;
    default:
      return ConnectError::kUnreachable;
  }
}

std::string numeric_host(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST] = {};
  if (::getnameinfo(addr, len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) return "?";
  return host;
}

// OpenSSL's short reason for the oldest queued error ("wrong version number").
std::string ssl_reason(unsigned long e) {
  if (const char* reason = ERR_reason_error_string(e)) return reason;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool unexpected_eof(unsigned long e) {
  return ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

// Reasons OpenSSL gives when the first bytes from the server were not a TLS record: typically
// a "220 ..." greeting on a STARTTLS port.
bool not_tls(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return false;
  int r = ERR_GET_REASON(e);
  return r == SSL_R_WRONG_VERSION_NUMBER || r == SSL_R_PACKET_LENGTH_TOO_LONG ||
         r == SSL_R_HTTP_REQUEST;
}

}  // namespace

ClientConnection::~ClientConnection() { close(); }

void ClientConnection::close() {
  if (ssl_ && tls_up_) SSL_shutdown(ssl_.get());  // close_notify; never waits for the reply
  ssl_.reset();
  tls_up_ = false;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ERR_clear_error();
}

namespace {
std::atomic<bool> g_aborting{false};
// How long a wait may miss abort_all(): short for a prompt shutdown, long enough to cost nothing.
constexpr std::int64_t kAbortCheckMs = 200;
// How soon a connect() to a unix socket whose backlog is full is tried again.
constexpr std::chrono::milliseconds kUnixRetry{10};
}  // namespace

void ClientConnection::abort_all() { g_aborting.store(true, std::memory_order_relaxed); }

bool ClientConnection::wait(short events, Deadline deadline) {
  for (;;) {
    if (g_aborting.load(std::memory_order_relaxed)) return false;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, events, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), kAbortCheckMs)));
    if (r > 0) return true;  // ready, or an error/hang-up the next call will report
    if (r < 0 && errno != EINTR) return false;
  }
}

std::expected<void, ConnectFailure> ClientConnection::connect(
    const std::string& host, int port, const std::vector<std::string>& addresses, Deadline deadline,
    std::chrono::milliseconds per_address) {
  std::string service = std::to_string(port);
  std::vector<AddrInfoPtr> lists;
  auto resolve = [&](const std::string& name, int flags) -> int {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = flags;
    addrinfo* list = nullptr;
    int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &list);
    if (rc == 0) lists.emplace_back(list);
    return rc;
  };
  if (addresses.empty()) {
    int rc = resolve(host, 0);
    if (rc != 0) {
      bool temporary = rc == EAI_AGAIN;
      return std::unexpected(
          ConnectFailure{temporary ? ConnectError::kTempDns : ConnectError::kNoHost,
                         "cannot resolve " + host + ": " + ::gai_strerror(rc)});
    }
  } else {
    for (const std::string& a : addresses) resolve(a, AI_NUMERICHOST);
  }
  int last_error = EHOSTUNREACH;
  for (const AddrInfoPtr& list : lists) {
    for (addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
      int fd =
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        last_error = errno;
        continue;
      }
      fd_ = fd;
      Deadline until =
          per_address.count() > 0 ? std::min(deadline, Clock::now() + per_address) : deadline;
      int error = ::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
      if (error == EINPROGRESS) error = finish_connect(until);
      if (error == 0) {
        peer_address_ = numeric_host(ai->ai_addr, ai->ai_addrlen);
        return {};
      }
      last_error = error;
      ::close(fd);
      fd_ = -1;
      if (Clock::now() >= deadline) break;
    }
  }
  return std::unexpected(ConnectFailure{
      classify(last_error),
      "cannot connect to " + host + " port " + service + ": " + std::strerror(last_error)});
}

int ClientConnection::finish_connect(Deadline deadline) {
  if (!wait(POLLOUT, deadline)) return ETIMEDOUT;
  int error = 0;
  socklen_t len = sizeof error;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &len);
  return error;
}

std::expected<void, ConnectFailure> ClientConnection::connect_unix(const std::string& path,
                                                                   Deadline deadline) {
  auto failure = [&](int error) {
    return std::unexpected(ConnectFailure{
        classify(error), "cannot connect to unix:" + path + ": " + std::strerror(error)});
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return failure(ENAMETOOLONG);
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return failure(errno);
  fd_ = fd;
  int error = 0;
  // A full listen backlog says EAGAIN on a non-blocking unix socket, and nothing is pending
  // (POLLOUT would not mean connected): try again shortly, until the deadline.
  for (;;) {
    error = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
    if (error != EAGAIN) break;
    if (Clock::now() + kUnixRetry >= deadline || g_aborting.load(std::memory_order_relaxed)) {
      error = ETIMEDOUT;
      break;
    }
    std::this_thread::sleep_for(kUnixRetry);
  }
  if (error == EINPROGRESS) error = finish_connect(deadline);
  if (error == 0) {
    peer_address_ = path;
    return {};
  }
  ::close(fd);
  fd_ = -1;
  return failure(error);
}

std::expected<void, HandshakeFailure> ClientConnection::handshake(SslPtr ssl, Deadline deadline) {
  ssl_ = std::move(ssl);
  SSL_set_fd(ssl_.get(), fd_);
  SSL_set_connect_state(ssl_.get());
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_connect(ssl_.get());
    if (rc == 1) {
      tls_up_ = true;
      return {};
    }
    int err = SSL_get_error(ssl_.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) continue;
      return std::unexpected(HandshakeFailure{HandshakeError::kTimeout,
                                              "timed out in the TLS handshake", "timed out"});
    }
    unsigned long e = ERR_peek_error();
    int saved_errno = errno;
    ERR_clear_error();
    if ((err == SSL_ERROR_SYSCALL && e == 0) || unexpected_eof(e)) {
      std::string why = saved_errno != 0 ? std::strerror(saved_errno) : "connection closed";
      return std::unexpected(HandshakeFailure{
          HandshakeError::kClosed,
          "the server closed the connection in the TLS handshake (" + why + ")", why});
    }
    std::string why = ssl_reason(e);
    return std::unexpected(
        HandshakeFailure{HandshakeError::kFailed, "TLS handshake failed: " + why, why, not_tls(e)});
  }
}

bool ClientConnection::idle_and_silent() {
  if (fd_ < 0) return false;
  // Decrypted bytes already buffered count as "arrived" (an unsolicited 421, say).
  if (ssl_ && tls_up_ && SSL_pending(ssl_.get()) > 0) return false;
  pollfd p{fd_, POLLIN, 0};
  int r = ::poll(&p, 1, 0);
  return r == 0;  // readable or hung up: the peer closed or spoke out of turn
}

Io ClientConnection::write_all(std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    if (tls_up_) {
      std::size_t n = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl_.get(), data.data(), data.size(), &n) == 1) {
        data.remove_prefix(n);
        continue;
      }
      int err = SSL_get_error(ssl_.get(), 0);
      ERR_clear_error();
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return Io::kError;
      // SSL_write must be retried with the same data once the socket is ready.
      if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return Io::kTimeout;
      continue;
    }
    ssize_t r = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (r >= 0) {
      data.remove_prefix(static_cast<std::size_t>(r));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait(POLLOUT, deadline)) return Io::kTimeout;
    } else if (errno != EINTR) {
      return Io::kError;
    }
  }
  return Io::kOk;
}

Io ClientConnection::read_some(std::string& into, Deadline deadline) {
  char buf[16384];
  for (;;) {
    if (tls_up_) {
      std::size_t n = 0;
      ERR_clear_error();
      errno = 0;
      if (SSL_read_ex(ssl_.get(), buf, sizeof buf, &n) == 1) {
        into.append(buf, n);
        return Io::kOk;
      }
      int err = SSL_get_error(ssl_.get(), 0);
      unsigned long e = ERR_peek_error();
      ERR_clear_error();
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        if (!wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return Io::kTimeout;
        continue;
      }
      if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && e == 0) || unexpected_eof(e))
        return Io::kEof;
      return Io::kError;
    }
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      into.append(buf, static_cast<std::size_t>(r));
      return Io::kOk;
    }
    if (r == 0) return Io::kEof;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait(POLLIN, deadline)) return Io::kTimeout;
    } else if (errno != EINTR) {
      return Io::kError;
    }
  }
}

}  // namespace sealpost::net
