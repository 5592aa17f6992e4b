// Answers control requests (docs/control-protocol.md) from the spool and the scheduler: one
// request line in, reply lines out through a LineSink. Owns no socket, so tests drive it with
// strings; the Server (server.hpp) feeds it lines from the control socket. Thread-safe: the
// spool and scheduler are, and the handler keeps no state of its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "control/protocol.hpp"
#include "delivery/scheduler.hpp"
#include "queue/spool.hpp"

namespace sealpost::control {

// Where reply lines go (without their LF). False: the client has gone; stop producing.
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual bool line(std::string_view json) = 0;
};

// Who asked, from SO_PEERCRED: named in the log line of every change.
struct Peer {
  std::uint32_t uid = 0;
  std::int32_t pid = 0;
  std::string user;              // login name, or empty if the uid has none
  std::string describe() const;  // "root (uid 0, pid 4711)"
};

class Handler {
 public:
  Handler(queue::Spool& spool, delivery::Scheduler& scheduler)
      : spool_(spool), scheduler_(scheduler) {}

  // Handles one request line: zero or more data lines, then exactly one status line.
  void handle(std::string_view request, const Peer& peer, LineSink& out);

 private:
  void list(LineSink& out);
  void show(const std::string& id, LineSink& out);
  void flush_all(const Peer& peer, LineSink& out);
  void change(const Request& request, const Peer& peer, LineSink& out);

  queue::Spool& spool_;
  delivery::Scheduler& scheduler_;
};

}  // namespace sealpost::control
