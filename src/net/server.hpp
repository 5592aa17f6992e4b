// The network half of sealpostd: one io_context per thread (one per core by default), each
// with its own SO_REUSEPORT acceptor per listener, so the kernel spreads connections and no
// connection ever crosses threads. Graceful shutdown: stop accepting, ask every session to
// finish (421), then close what is left after the grace period.
#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "net/connection.hpp"
#include "net/connection_limiter.hpp"

namespace sealpost::net {

class Server {
 public:
  // Binds every listener on every loop; throws std::system_error naming the address on
  // failure (port in use, no permission).
  Server(std::vector<ListenerContext> listeners, unsigned threads, const config::Limits& limits);
  ~Server();

  void start();  // starts the loop threads
  // Stops accepting, asks sessions to end, waits up to `grace`, then aborts the rest and
  // joins the threads.
  void shutdown(std::chrono::seconds grace);

 private:
  struct Loop {
    asio::io_context io{1};
    std::vector<asio::ip::tcp::acceptor> acceptors;
    std::set<std::shared_ptr<Connection>> connections;  // touched only on this loop's thread
    std::thread thread;
  };

  asio::awaitable<void> accept_loop(Loop& loop, asio::ip::tcp::acceptor& acceptor,
                                    const ListenerContext& context);

  std::vector<ListenerContext> listeners_;
  ConnectionLimiter limiter_;
  std::vector<std::unique_ptr<Loop>> loops_;
  bool stopped_ = false;
};

}  // namespace sealpost::net
