// Connection driver: a loop that flushes replies, performs the session's pending action or
// reads more input. Deadlines are enforced by a watchdog coroutine that cancels the pending
// socket wait; the loop then tells the session why (idle, session limit, shutdown).
#include "net/connection.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <utility>

#include "tls/session_info.hpp"

namespace sealpost::net {

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;
// After a 421 or QUIT, how long we wait for the client to take our last reply.
constexpr std::chrono::seconds kFinalWriteTimeout{10};

smtp::SessionSettings settings_for(const ListenerContext& c) {
  smtp::SessionSettings s = c.settings;
  s.starttls_offered = c.listener.tls == config::TlsMode::kStartTls ||
                       c.listener.tls == config::TlsMode::kRequireStartTls;
  s.tls_required = c.listener.tls == config::TlsMode::kRequireStartTls;
  if (c.auth) {
    // Placeholder until TLS is up (nothing is advertised before it); see handshake().
    s.auth_mechanisms = {"PLAIN"};
    s.auth_required = c.listener.role == config::Role::kSubmission;
  }
  return s;
}

std::string peer_of(const asio::ip::tcp::socket& socket) {
  std::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? std::string("unknown") : ep.address().to_string();
}

}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, const ListenerContext& context,
                       ConnectionLimiter::Slot slot)
    : context_(context),
      slot_(std::move(slot)),
      transport_(std::move(socket)),
      peer_(peer_of(transport_.socket())),
      timer_(transport_.socket().get_executor()),
      session_(settings_for(context), *context.policy, peer_) {
  if (context.auth) authenticator_.emplace(*context.auth, peer_);
}

std::string Connection::tag() const {
  return "[" + peer_ + "]:" + std::to_string(context_.listener.port);
}

void Connection::arm(std::chrono::seconds timeout, Interrupt kind) {
  auto now = std::chrono::steady_clock::now();
  deadline_ = now + timeout;
  armed_ = kind;
  // The watchdog sleeps until the old deadline; wake it only if the new one is earlier.
  if (timer_.expiry() > std::min(deadline_, session_deadline_)) timer_.cancel();
}

asio::awaitable<void> Connection::watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    timer_.expires_at(std::min(deadline_, session_deadline_));
    co_await timer_.async_wait(kAwait);
    if (closed_) break;
    auto now = std::chrono::steady_clock::now();
    if (armed_ == Interrupt::kNone) continue;  // committing a message: never interrupted
    if (now >= session_deadline_ && armed_ != Interrupt::kHandshake) {
      fired_ = Interrupt::kSession;
      session_deadline_ = now + kFinalWriteTimeout;  // room for the 421
      transport_.cancel();
    } else if (now >= deadline_) {
      fired_ = armed_;
      deadline_ = now + kFinalWriteTimeout;
      transport_.cancel();
    }
  }
}

void Connection::request_shutdown() {
  if (closed_ || shutdown_requested_) return;
  shutdown_requested_ = true;
  // An idle session gets its 421 now. A TLS handshake still in progress has nothing to finish
  // (no reply was promised inside TLS yet), so it ends too rather than holding the stop up
  // for tls_handshake_timeout.
  if (armed_ == Interrupt::kIdle || armed_ == Interrupt::kHandshake) {
    fired_ = Interrupt::kShutdown;
    transport_.cancel();
  }
}

void Connection::abort() {
  if (closed_) return;
  closed_ = true;
  transport_.close();
  timer_.cancel();
}

void Connection::log_session_events() {
  for (const auto& line : session_.take_log()) spdlog::info("{} {}", tag(), line);
}

asio::awaitable<bool> Connection::flush() {
  std::string out = session_.take_output();
  if (out.empty()) co_return true;
  arm(session_.action() == smtp::Action::kClose ? kFinalWriteTimeout : context_.limits.idle_timeout,
      Interrupt::kIdle);
  auto ec = co_await transport_.write_all(out);
  if (ec) spdlog::info("{} write failed: {}", tag(), ec.message());
  co_return !ec;
}

asio::awaitable<bool> Connection::handshake() {
  arm(context_.limits.tls_handshake_timeout, Interrupt::kHandshake);
  auto contexts = context_.certs->contexts(context_.index);
  if (!contexts) {
    spdlog::error("{} no TLS certificates for this listener", tag());
    co_return false;
  }
  std::string detail;
  auto ec = co_await transport_.accept_tls(contexts->default_context(),
                                           context_.listener.request_client_certificate, &detail);
  Interrupt why = std::exchange(fired_, Interrupt::kNone);
  if (ec) {
    spdlog::info("{} TLS handshake failed: {}", tag(),
                 why == Interrupt::kShutdown ? "server shutting down" : detail);
    co_return false;
  }
  tls::SessionInfo info = tls::describe(transport_.ssl());
  spdlog::info("{} TLS established: {} {} ({} bits) sni={}", tag(), info.version, info.cipher,
               info.bits, info.server_name.empty() ? "-" : info.server_name);
  // Kept for the disconnect line: once a read fails (a reset, an EOF without close_notify)
  // OpenSSL puts the SSL back "in init", and asking it then would log tls=none.
  tls_summary_ = info.version + " " + info.cipher +
                 " sni=" + (info.server_name.empty() ? "-" : info.server_name);
  if (authenticator_) {
    session_.set_auth_mechanisms(authenticator_->on_tls(const_cast<SSL*>(transport_.ssl())));
  }
  session_.on_tls_started(
      smtp::TlsFacts{true, info.version, info.cipher, info.bits, info.server_name});
  co_return true;
}

asio::awaitable<void> Connection::enqueue() {
  armed_ = Interrupt::kNone;
  auto outcome = co_await context_.enqueuer->enqueue(session_.take_transaction());
  if (outcome.error) {
    session_.on_enqueue_failed(*outcome.error);
  } else {
    ++messages_;
    session_.on_enqueued(outcome.queue_id);
  }
}

asio::awaitable<void> Connection::authenticate() {
  armed_ = Interrupt::kNone;  // a throttle delay or password hashing is not idleness
  smtp::AuthRequest request = session_.take_auth_request();
  if (!authenticator_) {
    session_.on_auth_result(smtp::AuthResult{smtp::AuthResult::Kind::kTemporaryFailure, {}, {}});
    co_return;
  }
  session_.on_auth_result(co_await authenticator_->step(request));
}

asio::awaitable<void> Connection::run() {
  auto self = shared_from_this();
  auto start = std::chrono::steady_clock::now();
  session_deadline_ = start + context_.limits.session_timeout;
  deadline_ = start + context_.limits.idle_timeout;
  asio::co_spawn(timer_.get_executor(), watchdog(), asio::detached);
  spdlog::info("{} connect (tls={})", tag(),
               context_.listener.tls == config::TlsMode::kImplicit ? "implicit" : "starttls");

  bool ok = context_.listener.tls != config::TlsMode::kImplicit || co_await handshake();
  if (ok) session_.greet();
  // One read buffer per thread, not per connection: bytes are copied into the session before
  // the next co_await, and idle sessions then cost no buffer at all.
  static thread_local std::array<char, kReadChunk> buf;
  while (ok && !closed_) {
    log_session_events();
    if (!co_await flush()) break;
    smtp::Action action = session_.action();
    if (action == smtp::Action::kClose) break;
    if (action == smtp::Action::kStartTls) {
      if (!co_await handshake()) {
        session_.on_tls_failed();
        break;
      }
      continue;
    }
    if (action == smtp::Action::kEnqueue) {
      co_await enqueue();
      continue;
    }
    if (action == smtp::Action::kAuthenticate) {
      co_await authenticate();
      continue;
    }
    if (shutdown_requested_ && !shutdown_delivered_) {
      shutdown_delivered_ = true;
      session_.on_shutdown();
      continue;
    }
    arm(context_.limits.idle_timeout, Interrupt::kIdle);
    auto [ec, n] = co_await transport_.read_some(buf);
    if (ec == asio::error::operation_aborted) {
      Interrupt why = std::exchange(fired_, Interrupt::kNone);
      if (why == Interrupt::kIdle) session_.on_idle_timeout();
      if (why == Interrupt::kSession) session_.on_session_expired();
      if (why == Interrupt::kShutdown && !std::exchange(shutdown_delivered_, true))
        session_.on_shutdown();
      if (why == Interrupt::kNone) break;  // aborted from outside
      continue;
    }
    if (ec || n == 0) {
      spdlog::info("{} lost connection{}", tag(), ec ? ": " + ec.message() : "");
      break;
    }
    session_.receive(std::string_view(buf.data(), n));
  }
  log_session_events();
  closed_ = true;
  timer_.cancel();
  transport_.close();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  spdlog::info("{} disconnect tls={} messages={} duration={}ms", tag(), tls_summary_, messages_,
               ms);
}

}  // namespace sealpost::net
