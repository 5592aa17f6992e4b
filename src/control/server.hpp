// The daemon's end of the control socket: a unix stream socket at <state_dir>/control.sock
// (mode 0600, owned by the daemon's user) served by threads of its own, never by an SMTP event
// loop. Each peer is checked with SO_PEERCRED: only root and the daemon's own uid are served;
// anyone else gets a "permission-denied" status line and a log line. Requests are read with a
// size limit and a timeout and handed to the Handler; replies are buffered and written with a
// timeout, so a stalled client holds only its own thread. Protocol: docs/control-protocol.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <list>
#include <mutex>
#include <thread>

#include "control/handler.hpp"

namespace sealpost::control {

class Server {
 public:
  struct Options {
    std::filesystem::path path;
    unsigned max_clients = 16;                       // more at once get "busy"
    std::chrono::milliseconds read_timeout{10000};   // to send a whole request line
    std::chrono::milliseconds write_timeout{30000};  // for one blocked write of a reply
  };

  // Creates and binds the socket. Throws std::runtime_error if a live sealpostd already
  // answers on it (two daemons must never share a spool), or if it cannot be created; a stale
  // socket file left by a crash is replaced.
  explicit Server(Options options);
  ~Server();  // stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start(Handler& handler);  // starts accepting on a thread of its own
  // Stops accepting, cuts open connections (a reply being written ends early), joins every
  // thread and removes the socket file. Idempotent.
  void stop();

 private:
  struct Client {
    int fd;
    std::thread thread;
    bool finished = false;
  };

  void accept_loop();
  void serve(Client& client);
  void reap_locked(bool all);

  const Options options_;
  const uid_t own_uid_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once stop() was called
  Handler* handler_ = nullptr;
  std::thread acceptor_;
  std::mutex mutex_;
  std::list<Client> clients_;
  bool stopped_ = false;
};

}  // namespace sealpost::control
