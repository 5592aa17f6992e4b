// One accepted TCP connection, plain or TLS, with awaitable read/write. TLS runs OpenSSL
// directly on the non-blocking socket (SSL_set_fd) and waits for readiness with Asio, rather
// than through asio::ssl: no intermediate BIO pair or 17 KiB buffers per connection, so an
// idle session costs little more than its SSL object (SSL_MODE_RELEASE_BUFFERS).
#pragma once

#include <openssl/ssl.h>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

namespace sealpost::net {

class Transport {
 public:
  explicit Transport(asio::ip::tcp::socket socket);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Reads what is available (at least one byte) into buf. 0 bytes with no error = EOF.
  // After a write it waits for readiness before its first read: a peer that was just
  // answered has rarely sent anything yet (saves an EAGAIN read per SMTP reply).
  asio::awaitable<std::pair<std::error_code, std::size_t>> read_some(std::span<char> buf);
  asio::awaitable<std::error_code> write_all(std::string_view data);
  // Server-side handshake with ctx (SNI may switch it). On failure `detail` says why.
  // request_client_certificate: ask for (not require) a client certificate; it is not
  // validated against a CA here — the credential store pins certificates by SHA-256.
  asio::awaitable<std::error_code> accept_tls(SSL_CTX* ctx, bool request_client_certificate,
                                              std::string* detail);
  // Best-effort close_notify, then close. Never waits long: the peer may be gone.
  void close();
  // Aborts pending waits (timeouts, shutdown): they complete with operation_aborted.
  void cancel();

  bool tls_active() const { return ssl_ != nullptr; }
  const SSL* ssl() const { return ssl_; }
  asio::ip::tcp::socket& socket() { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  bool wrote_since_read_ = false;  // the next read_some waits for readiness before reading
};

}  // namespace sealpost::net
