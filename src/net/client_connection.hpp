// One outgoing TCP connection, plain and then TLS, every step bounded by a deadline:
// non-blocking socket, poll(2), OpenSSL on the same descriptor. Blocking by design, for the
// one-shot commands (sealpost send, tls-check) and remote delivery's worker threads: no event
// loop, no Asio. Name resolution (getaddrinfo, when no numeric addresses are given) is the
// system's and not bounded here.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::net {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

enum class ConnectError { kNoHost, kTempDns, kRefused, kTimeout, kUnreachable };

struct ConnectFailure {
  ConnectError kind;
  std::string message;  // one line: "cannot connect to HOST port N: Connection refused"
};

enum class Io { kOk, kEof, kTimeout, kError };

enum class HandshakeError { kTimeout, kClosed, kFailed };

struct HandshakeFailure {
  HandshakeError kind;
  std::string message;     // one line: "TLS handshake failed: wrong version number"
  std::string reason;      // the same without the framing: "wrong version number"
  bool plaintext = false;  // the peer answered with something that is not TLS
};

class ClientConnection {
 public:
  ClientConnection() = default;
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Tries `addresses` (numeric) if given, else what getaddrinfo(host) returns, in order, until
  // one accepts or `deadline` passes. A non-zero `per_address` also bounds each address on its
  // own, so that a black-holed one leaves the next its full share (sealpost send).
  std::expected<void, ConnectFailure> connect(const std::string& host, int port,
                                              const std::vector<std::string>& addresses,
                                              Deadline deadline,
                                              std::chrono::milliseconds per_address = {});
  // A unix-domain stream socket (a local LMTP server); peer_address() is then the path.
  std::expected<void, ConnectFailure> connect_unix(const std::string& path, Deadline deadline);
  const std::string& peer_address() const { return peer_address_; }  // "127.0.0.1", "::1"

  // TLS client handshake over the connection with `ssl` (configured by the caller). From
  // then on reads and writes go through TLS. The SSL stays available after a failure, so
  // the caller can ask it what it saw.
  std::expected<void, HandshakeFailure> handshake(SslPtr ssl, Deadline deadline);
  SSL* ssl() const { return ssl_.get(); }
  bool tls_active() const { return tls_up_; }  // the handshake completed

  // Connected, and nothing (no byte, no EOF, no reset) has arrived since the last read: what a
  // connection kept idle must be before it carries another command. Never waits.
  bool idle_and_silent();

  Io write_all(std::string_view data, Deadline deadline);
  Io read_some(std::string& into, Deadline deadline);
  void close();  // close_notify (best effort, never waits) and close(2)

  // Process-wide and one-way: from now on every wait of every ClientConnection gives up within
  // a fraction of a second, as if its deadline had passed. sealpostd's shutdown: deliveries in
  // flight end as deferrals (the message stays queued) instead of holding SIGTERM up for up to
  // their whole deadline.
  static void abort_all();

 private:
  bool wait(short events, Deadline deadline);  // false on timeout or poll error
  // The end of a non-blocking connect() that said EINPROGRESS: 0 once connected, else errno.
  int finish_connect(Deadline deadline);

  int fd_ = -1;
  SslPtr ssl_;
  bool tls_up_ = false;
  std::string peer_address_;
};

}  // namespace sealpost::net
