// One load-generator connection: TCP (TCP_NODELAY), optionally TLS as a client with OpenSSL on
// the non-blocking socket (as net::Transport does for the server), and SMTP replies read
// through a ReplyReader. Every wait is bounded: a watchdog cancels the pending wait when the
// current deadline passes, and the operation fails with "timeout".
#pragma once

#include <openssl/ssl.h>

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "cli/bench/reply_reader.hpp"

namespace sealpost::bench {

// An operation's result: empty = success, else why it failed ("timeout", "connect: ...").
using Failure = std::string;

class ClientConnection {
 public:
  ClientConnection(asio::any_io_executor executor, std::chrono::steady_clock::duration timeout);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  asio::awaitable<Failure> connect(const asio::ip::tcp::endpoint& endpoint);
  // Client handshake on `ssl` (takes ownership), e.g. from TlsClient::new_ssl.
  asio::awaitable<Failure> handshake(SSL* ssl);
  asio::awaitable<Failure> write(std::string_view data);
  // The next complete reply into `reply`.
  asio::awaitable<Failure> read_reply(ServerReply& reply);
  bool reply_buffered() const { return !reader_.empty(); }
  bool session_reused() const { return ssl_ && SSL_session_reused(ssl_) == 1; }
  void close();

  // The watchdog: completes when the deadline passes and cancels the pending wait; run it
  // beside the session with `||` (asio awaitable_operators). restart() before each step.
  asio::awaitable<void> watchdog();
  void restart_deadline() { deadline_ = std::chrono::steady_clock::now() + timeout_; }

 private:
  asio::awaitable<Failure> wait(asio::socket_base::wait_type type);

  asio::ip::tcp::socket socket_;
  SSL* ssl_ = nullptr;
  ReplyReader reader_;
  std::chrono::steady_clock::duration timeout_;
  std::chrono::steady_clock::time_point deadline_;
  bool timed_out_ = false;
};

}  // namespace sealpost::bench
