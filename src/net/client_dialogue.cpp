// converse(): the loop tls-check's probe and remote delivery's attempt share. A failed write
// or a closed socket is reported to the session as a close, a read past its wait as a timeout;
// the session decides what that means for the transaction.
#include "net/client_dialogue.hpp"

#include <algorithm>
#include <string>

namespace sealpost::net {

void converse(smtp::ClientSession& session, ClientConnection& conn, const Deadline& deadline,
              const StartTls& start_tls, const OnRead& on_read) {
  using smtp::ClientAction;
  for (;;) {
    std::string out = session.take_output();
    if (!out.empty() && conn.write_all(out, deadline) != Io::kOk &&
        session.action() != ClientAction::kClose) {
      session.on_closed();  // the peer went away mid-write: as if it had closed
      continue;
    }
    ClientAction action = session.action();
    if (action == ClientAction::kClose || action == ClientAction::kDone) return;
    if (session.idle()) return;  // the caller keeps the connection or asks for QUIT
    if (action == ClientAction::kStartTls) {
      if (!start_tls()) return session.on_tls_failed();  // the connection is spent
      session.on_tls_started();
      continue;
    }
    std::string in;
    auto wait = session.timeout();
    Deadline until = wait.count() > 0 ? std::min(deadline, Clock::now() + wait) : deadline;
    switch (conn.read_some(in, until)) {
      case Io::kOk:
        if (on_read) on_read(in);
        session.receive(in);
        break;
      case Io::kTimeout:
        session.on_timeout();
        break;
      case Io::kEof:
      case Io::kError:
        session.on_closed();
        break;
    }
  }
}

}  // namespace sealpost::net
