// Transport: readiness-driven I/O. Every operation first tries the non-blocking call and only
// then waits, so bytes OpenSSL has already decrypted (SSL_pending) are never left waiting.
#include "net/transport.hpp"

#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <utility>

namespace sealpost::net {

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

std::string openssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "handshake failed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

Transport::Transport(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
  std::error_code ec;
  socket_.non_blocking(true, ec);
  // Without TCP_NODELAY, Nagle + delayed ACK holds small replies ~40 ms (measured here).
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
}

Transport::~Transport() {
  if (ssl_) SSL_free(ssl_);
}

asio::awaitable<std::pair<std::error_code, std::size_t>> Transport::read_some(std::span<char> buf) {
  // Just answered: the peer is most likely still waiting for that reply, so a read now would
  // only fail with EAGAIN. Wait first — unless OpenSSL already holds bytes (read ahead or a
  // decrypted record), which no readiness event would announce. Asio's wait re-arms epoll,
  // which reports data that arrived meanwhile at once.
  if (std::exchange(wrote_since_read_, false) && !(ssl_ && SSL_has_pending(ssl_))) {
    auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_read, kAwait);
    if (ec) co_return std::pair{ec, std::size_t{0}};
  }
  for (;;) {
    if (ssl_) {
      std::size_t n = 0;
      ERR_clear_error();
      if (SSL_read_ex(ssl_, buf.data(), buf.size(), &n) == 1)
        co_return std::pair{std::error_code{}, n};
      int err = SSL_get_error(ssl_, 0);
      if (err == SSL_ERROR_ZERO_RETURN) co_return std::pair{std::error_code{}, std::size_t{0}};
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        auto wait = err == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read
                                               : asio::socket_base::wait_write;
        auto [ec] = co_await socket_.async_wait(wait, kAwait);
        if (ec) co_return std::pair{ec, std::size_t{0}};
        continue;
      }
      ERR_clear_error();
      co_return std::pair{std::make_error_code(std::errc::connection_reset), std::size_t{0}};
    }
    ssize_t n = ::recv(socket_.native_handle(), buf.data(), buf.size(), 0);
    if (n >= 0) co_return std::pair{std::error_code{}, static_cast<std::size_t>(n)};
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      co_return std::pair{std::error_code(errno, std::system_category()), std::size_t{0}};
    auto [ec] = co_await socket_.async_wait(asio::socket_base::wait_read, kAwait);
    if (ec) co_return std::pair{ec, std::size_t{0}};
  }
}

asio::awaitable<std::error_code> Transport::write_all(std::string_view data) {
  if (!data.empty()) wrote_since_read_ = true;
  while (!data.empty()) {
    auto wait = asio::socket_base::wait_write;
    if (ssl_) {
      std::size_t n = 0;
      ERR_clear_error();
      if (SSL_write_ex(ssl_, data.data(), data.size(), &n) == 1) {
        data.remove_prefix(n);
        continue;
      }
      int err = SSL_get_error(ssl_, 0);
      if (err == SSL_ERROR_WANT_READ) {
        wait = asio::socket_base::wait_read;
      } else if (err != SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        co_return std::make_error_code(std::errc::connection_reset);
      }
    } else {
      ssize_t n = ::send(socket_.native_handle(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n >= 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        co_return std::error_code(errno, std::system_category());
    }
    auto [ec] = co_await socket_.async_wait(wait, kAwait);
    if (ec) co_return ec;
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Transport::accept_tls(SSL_CTX* ctx,
                                                       bool request_client_certificate,
                                                       std::string* detail) {
  ssl_ = SSL_new(ctx);
  if (!ssl_ || SSL_set_fd(ssl_, socket_.native_handle()) != 1) {
    *detail = openssl_error_text();
    co_return std::make_error_code(std::errc::not_enough_memory);
  }
  SSL_set_accept_state(ssl_);
  if (request_client_certificate) {
    // Any certificate is accepted at the TLS layer; identity comes from the pinned SHA-256
    // in the credentials file (SASL EXTERNAL), so no CA list is needed.
    SSL_set_verify(ssl_, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE,
                   [](int, X509_STORE_CTX*) { return 1; });
  }
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) co_return std::error_code{};
    int err = SSL_get_error(ssl_, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      *detail = err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? "connection closed by peer"
                                                                  : openssl_error_text();
      co_return std::make_error_code(std::errc::protocol_error);
    }
    auto wait =
        err == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read : asio::socket_base::wait_write;
    auto [ec] = co_await socket_.async_wait(wait, kAwait);
    if (ec) {
      *detail = ec == asio::error::operation_aborted ? "handshake timeout" : ec.message();
      co_return ec;
    }
  }
}

void Transport::close() {
  if (ssl_ && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one non-blocking attempt at close_notify
    ERR_clear_error();
  }
  std::error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_both, ec);
  socket_.close(ec);
}

void Transport::cancel() {
  std::error_code ec;
  socket_.cancel(ec);
}

}  // namespace sealpost::net
