// The connection driver: pumps bytes between a Transport and an smtp::ServerSession and
// performs the session's actions (StartTls, Enqueue, Close). No protocol knowledge lives
// here. A watchdog enforces the handshake, idle and total session deadlines.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "net/authenticator.hpp"
#include "net/connection_limiter.hpp"
#include "net/enqueuer.hpp"
#include "net/transport.hpp"
#include "smtp/server_session.hpp"
#include "tls/cert_store.hpp"

namespace sealpost::net {

// Everything a listener's connections share; owned by the Server, read-only while running.
struct ListenerContext {
  std::size_t index = 0;  // into config.listeners (and CertStore)
  config::Listener listener;
  config::Limits limits;
  smtp::SessionSettings settings;
  const smtp::SessionPolicy* policy = nullptr;
  tls::CertStore* certs = nullptr;
  Enqueuer* enqueuer = nullptr;
  const AuthServices* auth = nullptr;  // null: no AUTH on this listener (role mx)
  bool expose_auth_user = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, const ListenerContext& context,
             ConnectionLimiter::Slot slot);

  asio::awaitable<void> run();
  // Ends the session politely (421 when idle; after the current message otherwise).
  void request_shutdown();
  // Closes at once (the grace period after shutdown is over).
  void abort();

 private:
  enum class Interrupt { kNone, kIdle, kSession, kHandshake, kShutdown };

  asio::awaitable<void> watchdog();
  asio::awaitable<bool> handshake();
  asio::awaitable<void> enqueue();
  asio::awaitable<void> authenticate();
  asio::awaitable<bool> flush();
  void arm(std::chrono::seconds timeout, Interrupt kind);
  void log_session_events();
  std::string tag() const;

  const ListenerContext& context_;
  ConnectionLimiter::Slot slot_;
  Transport transport_;
  std::string peer_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::steady_clock::time_point session_deadline_;
  Interrupt armed_ = Interrupt::kNone;
  Interrupt fired_ = Interrupt::kNone;
  bool shutdown_requested_ = false;
  bool shutdown_delivered_ = false;
  bool closed_ = false;
  smtp::ServerSession session_;
  std::optional<Authenticator> authenticator_;
  unsigned messages_ = 0;
  std::string tls_summary_ = "none";  // "version cipher sni=name" once a handshake succeeded
};

}  // namespace sealpost::net
