// ClientConnection: try the non-blocking call first, wait for readiness only when it would
// block, so bytes OpenSSL already decrypted are never left waiting (see net/transport.cpp).
#include "cli/bench/client_connection.hpp"

#include <openssl/err.h>
#include <sys/socket.h>

#include <sys/types.h>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <cerrno>
#include <cstring>

namespace sealpost::bench {

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

std::string tls_error(SSL* ssl, int err) {
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    std::string text = buf;
    if (long v = SSL_get_verify_result(ssl); v != X509_V_OK)
      text += std::string(" (") + X509_verify_cert_error_string(v) + ")";
    return text;
  }
  if (err == SSL_ERROR_ZERO_RETURN) return "closed by peer";
  if (err == SSL_ERROR_SYSCALL) return errno != 0 ? std::strerror(errno) : "closed by peer";
  return "TLS error " + std::to_string(err);
}

}  // namespace

ClientConnection::ClientConnection(asio::any_io_executor executor,
                                   std::chrono::steady_clock::duration timeout)
    : socket_(executor), timeout_(timeout) {
  restart_deadline();
}

ClientConnection::~ClientConnection() {
  if (ssl_) SSL_free(ssl_);
}

asio::awaitable<void> ClientConnection::watchdog() {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline_) {
      timed_out_ = true;
      co_return;  // `||` now cancels the session's pending wait
    }
    timer.expires_at(deadline_);
    auto [ec] = co_await timer.async_wait(kAwait);
    if (ec == asio::error::operation_aborted) co_return;  // the session finished first
  }
}

asio::awaitable<Failure> ClientConnection::wait(asio::socket_base::wait_type type) {
  auto [ec] = co_await socket_.async_wait(type, kAwait);
  if (timed_out_) co_return "timeout";
  if (ec) co_return ec.message();
  co_return Failure{};
}

asio::awaitable<Failure> ClientConnection::connect(const asio::ip::tcp::endpoint& endpoint) {
  restart_deadline();
  auto [ec] = co_await socket_.async_connect(endpoint, kAwait);
  if (timed_out_) co_return "connect: timeout";
  if (ec) co_return "connect: " + ec.message();
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
  // Without TCP_NODELAY small writes wait for the peer's delayed ACK (~40 ms each).
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return Failure{};
}

asio::awaitable<Failure> ClientConnection::handshake(SSL* ssl) {
  restart_deadline();
  if (!ssl) co_return "TLS: cannot set up the connection (SNI or session)";
  ssl_ = ssl;
  if (SSL_set_fd(ssl_, socket_.native_handle()) != 1) co_return "TLS: SSL_set_fd failed";
  SSL_set_connect_state(ssl_);
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) co_return Failure{};
    int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
      co_return "TLS handshake: " + tls_error(ssl_, err);
    Failure f = co_await wait(err == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read
                                                         : asio::socket_base::wait_write);
    if (!f.empty()) co_return "TLS handshake: " + f;
  }
}

asio::awaitable<Failure> ClientConnection::write(std::string_view data) {
  restart_deadline();
  while (!data.empty()) {
    auto type = asio::socket_base::wait_write;
    if (ssl_) {
      std::size_t n = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl_, data.data(), data.size(), &n) == 1) {
        data.remove_prefix(n);
        continue;
      }
      int err = SSL_get_error(ssl_, 0);
      if (err == SSL_ERROR_WANT_READ)
        type = asio::socket_base::wait_read;
      else if (err != SSL_ERROR_WANT_WRITE)
        co_return "write: " + tls_error(ssl_, err);
    } else {
      ssize_t n = ::send(socket_.native_handle(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        co_return std::string("write: ") + std::strerror(errno);
    }
    Failure f = co_await wait(type);
    if (!f.empty()) co_return "write: " + f;
  }
  co_return Failure{};
}

asio::awaitable<Failure> ClientConnection::read_reply(ServerReply& reply) {
  restart_deadline();
  char buf[16384];
  for (;;) {
    if (auto r = reader_.next()) {
      reply = std::move(*r);
      co_return Failure{};
    }
    if (!reader_.error().empty()) co_return "read: " + reader_.error();
    auto type = asio::socket_base::wait_read;
    if (ssl_) {
      std::size_t n = 0;
      ERR_clear_error();
      errno = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) {
        reader_.feed({buf, n});
        continue;
      }
      int err = SSL_get_error(ssl_, 0);
      if (err == SSL_ERROR_WANT_WRITE)
        type = asio::socket_base::wait_write;
      else if (err == SSL_ERROR_ZERO_RETURN)
        co_return "read: connection closed";
      else if (err != SSL_ERROR_WANT_READ)
        co_return "read: " + tls_error(ssl_, err);
    } else {
      ssize_t n = ::recv(socket_.native_handle(), buf, sizeof buf, 0);
      if (n > 0) {
        reader_.feed({buf, static_cast<std::size_t>(n)});
        continue;
      }
      if (n == 0) co_return "read: connection closed";
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        co_return std::string("read: ") + std::strerror(errno);
    }
    Failure f = co_await wait(type);
    if (!f.empty()) co_return "read: " + f;
  }
}

void ClientConnection::close() {
  if (ssl_ && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one non-blocking close_notify; the server may be gone already
    ERR_clear_error();
  }
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

}  // namespace sealpost::bench
