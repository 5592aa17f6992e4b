// delivery::remote::ConnectionCache: SMTP connections kept open between deliveries, so that
// several messages to one destination share one TCP connection, TLS handshake and EHLO (RFC
// 5321 §3.3; Postfix's connection cache). A kept connection is reused only under an identical
// key: the same host, address and port and the same TLS requirement, so mail that needs a
// stronger requirement never rides on a connection made under a weaker one. Idle connections
// are closed with QUIT when they expire and when the cache goes. No I/O under the lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/client_connection.hpp"
#include "smtp/client_session.hpp"
#include "tls/policy.hpp"

namespace sealpost::delivery::remote {

// Where a connection goes and under which terms it was made; only an equal key may reuse it.
struct ConnectionKey {
  std::string host;     // MX host or smarthost: the reference identity and SNI
  std::string address;  // numeric
  int port = 25;
  // tls::decide's requirement for the host when the connection was made, field by field.
  tls::PolicyKind policy = tls::PolicyKind::kMay;
  bool attempt_tls = true;
  bool tls_required = false;
  tls::Verification verification = tls::Verification::kNone;
  std::string reference_name;
  std::vector<tls::Tlsa> tlsa;
  bool implicit_tls = false;  // RFC 8314 §3.3: the smarthost's port 465
  bool authenticated = false;
  std::string auth_identity;  // the AUTH user, when authenticated

  bool operator==(const ConnectionKey&) const = default;
};

ConnectionKey connection_key(std::string host, std::string address, int port,
                             const tls::Requirement& requirement);

// A connection between transactions: the socket, the session that ran on it (idle: ready for
// another MAIL FROM) and how its TLS went, for the log line of every message it carries.
struct KeptConnection {
  std::unique_ptr<net::ClientConnection> conn;
  std::unique_ptr<smtp::ClientSession> session;
  std::string tls_version;  // "" = cleartext
  std::string cipher;
  std::string verified = "none";  // dane-ee | dane-ta | pkix | none
  std::string reason;             // the policy's verdict when the connection was made
  net::Clock::time_point created{};
  net::Clock::time_point idle_since{};  // set by the cache
  std::size_t transactions = 0;         // carried so far
};

// QUIT with a short wait for its reply where the peer is still there, then close.
void close_kept(KeptConnection& connection);

struct ConnectionCacheLimits {
  // How long a connection may wait for the next message (Postfix's
  // smtp_connection_cache_time_limit). 0: no reuse at all.
  std::chrono::seconds idle_time{2};
  // No new transaction on a connection older than this (smtp_connection_reuse_time_limit).
  std::chrono::seconds max_age{300};
  std::size_t max_transactions = 100;  // per connection
  std::size_t max_idle = 100;          // idle connections kept, all destinations together
};

class ConnectionCache {
 public:
  using Clock = net::Clock;

  explicit ConnectionCache(ConnectionCacheLimits limits);
  // QUITs every idle connection (quickly after net::ClientConnection::abort_all()).
  ~ConnectionCache();
  ConnectionCache(const ConnectionCache&) = delete;
  ConnectionCache& operator=(const ConnectionCache&) = delete;

  bool enabled() const { return limits_.idle_time.count() > 0 && limits_.max_idle > 0; }

  // The most recently kept connection for `key` that is within its limits, now owned by the
  // caller; null if there is none. Expired ones met on the way are closed.
  std::unique_ptr<KeptConnection> take(const ConnectionKey& key,
                                       Clock::time_point now = Clock::now());
  // Keeps an idle, healthy connection for `key`, or closes it when reuse is off or it reached
  // its age or transaction limit. A full cache closes its oldest idle connection to make room.
  void keep(ConnectionKey key, std::unique_ptr<KeptConnection> connection,
            Clock::time_point now = Clock::now());
  // Closes the idle connections whose idle time or age ran out by `now` (the reaper thread
  // calls it with the clock); returns how many.
  std::size_t close_expired(Clock::time_point now);
  std::size_t size() const;

 private:
  struct Entry {
    ConnectionKey key;
    std::unique_ptr<KeptConnection> connection;
  };

  bool expired(const KeptConnection& c, Clock::time_point now) const;
  bool worn_out(const KeptConnection& c, Clock::time_point now) const;
  Clock::time_point expiry(const KeptConnection& c) const;
  void reap();

  const ConnectionCacheLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Entry> idle_;  // oldest first
  bool stopping_ = false;
  std::thread reaper_;  // last: started once everything above exists
};

}  // namespace sealpost::delivery::remote
