// Server: binds, accepts and shuts down. Each accepted socket becomes a Connection whose
// coroutine runs to completion on the loop that accepted it.
#include "net/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/v6_only.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <future>

namespace sealpost::net {

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

asio::ip::tcp::acceptor bind_listener(asio::io_context& io, const config::Listener& l) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(l.address), l.port);
  asio::ip::tcp::acceptor acceptor(io);
  std::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    // SO_REUSEPORT: every loop binds the same address; the kernel balances accepts.
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      ec = std::error_code(errno, std::system_category());
  }
  if (!ec && ep.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::system_error(ec,
                            "cannot listen on " + l.address + " port " + std::to_string(l.port));
  }
  return acceptor;
}

}  // namespace

Server::Server(std::vector<ListenerContext> listeners, unsigned threads,
               const config::Limits& limits)
    : listeners_(std::move(listeners)),
      limiter_(limits.max_connections, limits.max_connections_per_ip) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    auto loop = std::make_unique<Loop>();
    for (const auto& l : listeners_) loop->acceptors.push_back(bind_listener(loop->io, l.listener));
    loops_.push_back(std::move(loop));
  }
}

Server::~Server() {
  if (!stopped_) shutdown(std::chrono::seconds(0));
}

void Server::start() {
  for (auto& loop : loops_) {
    for (std::size_t i = 0; i < listeners_.size(); ++i) {
      asio::co_spawn(loop->io, accept_loop(*loop, loop->acceptors[i], listeners_[i]),
                     asio::detached);
    }
    Loop* raw = loop.get();
    loop->thread = std::thread([raw] {
      try {
        raw->io.run();
      } catch (const std::exception& e) {
        // A bug escaped a connection; better a loud death than a silently dead loop.
        spdlog::critical("event loop: {}", e.what());
        std::abort();
      }
    });
  }
}

asio::awaitable<void> Server::accept_loop(Loop& loop, asio::ip::tcp::acceptor& acceptor,
                                          const ListenerContext& context) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(kAwait);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE/ENFILE: back off instead of spinning on a full descriptor table.
      spdlog::warn("accept on port {}: {}", context.listener.port, ec.message());
      asio::steady_timer pause(loop.io, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAwait);
      continue;
    }
    std::error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    std::string why;
    auto slot = peer_ec ? std::nullopt : limiter_.acquire(peer.address(), &why);
    if (!slot) {
      if (!peer_ec) {
        spdlog::warn("[{}]:{} refused: {}", peer.address().to_string(), context.listener.port, why);
        if (context.listener.tls != config::TlsMode::kImplicit) {
          // One best-effort write; a full socket buffer just means no reply.
          static constexpr char kBusy[] = "421 4.7.0 Too many connections, try again later\r\n";
          ::send(socket.native_handle(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      }
      std::error_code ignored;
      socket.close(ignored);
      continue;
    }
    auto connection = std::make_shared<Connection>(std::move(socket), context, std::move(*slot));
    loop.connections.insert(connection);
    asio::co_spawn(
        loop.io,
        [&loop, connection]() -> asio::awaitable<void> {
          try {
            co_await connection->run();
          } catch (const std::exception& e) {
            spdlog::error("connection aborted: {}", e.what());
          }
          loop.connections.erase(connection);
        },
        asio::detached);
  }
}

void Server::shutdown(std::chrono::seconds grace) {
  if (stopped_) return;
  stopped_ = true;
  for (auto& loop : loops_) {
    asio::post(loop->io, [raw = loop.get()] {
      for (auto& a : raw->acceptors) {
        std::error_code ec;
        a.close(ec);
      }
      for (const auto& c : raw->connections) c->request_shutdown();
    });
  }
  auto until = std::chrono::steady_clock::now() + grace;
  for (auto& loop : loops_) {
    // Wait for the loop to drain on its own; past the grace period, abort what is left.
    while (!loop->io.stopped() && std::chrono::steady_clock::now() < until) {
      std::promise<std::size_t> count;
      auto f = count.get_future();
      asio::post(loop->io,
                 [raw = loop.get(), &count] { count.set_value(raw->connections.size()); });
      if (f.wait_for(std::chrono::seconds(1)) == std::future_status::ready && f.get() == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    asio::post(loop->io, [raw = loop.get()] {
      for (const auto& c : raw->connections) c->abort();
    });
  }
  for (auto& loop : loops_) {
    if (loop->thread.joinable()) loop->thread.join();
  }
}

}  // namespace sealpost::net
