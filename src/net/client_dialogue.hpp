// The client side's byte pump: an smtp::ClientSession says what to do (write, read, StartTls,
// Close, Done) and this loop does it over a ClientConnection against a deadline. What STARTTLS
// means (context, peer checks, policy) is the caller's, through the hooks.
#pragma once

#include <functional>
#include <string_view>

#include "net/client_connection.hpp"
#include "smtp/client_session.hpp"

namespace sealpost::net {

// The handshake and the caller's checks of the peer; false: nothing more may go over this
// connection (the session is told on_tls_failed).
using StartTls = std::function<bool()>;
// Sees every chunk read before the session does.
using OnRead = std::function<void(std::string_view)>;

// Runs until the session closes, is done, or is idle (every message decided, no QUIT asked). Each
// read waits the session's RFC 5321 timeout, capped by `deadline`, which is read anew at every
// step: start_tls may move it.
void converse(smtp::ClientSession& session, ClientConnection& conn, const Deadline& deadline,
              const StartTls& start_tls, const OnRead& on_read = {});

}  // namespace sealpost::net
