// delivery::remote::RelayDelivery: every non-local recipient of a message to the one smarthost
// of [relay] (RFC 8314 §3.3): implicit TLS or required STARTTLS, the server verified by PKIX and
// its configured host name (the `verify` policy of tls::evaluate), then AUTH, then one
// transaction for all recipients. One log line per attempt. No MX lookup, DANE or MTA-STS: the
// smarthost is named by the configuration and authenticated by its certificate. An
// authenticated connection is kept for the next message (connection_cache.hpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/outcome.hpp"
#include "delivery/remote/attempt.hpp"
#include "smtp/client_session.hpp"
#include "tls/server_context.hpp"

namespace sealpost::delivery::remote {

struct RelayOptions {
  std::string host;  // the smarthost: resolved, sent as SNI, checked in its certificate
  int port = 465;
  bool starttls = false;  // false: implicit TLS (RFC 8314 §3.3); true: STARTTLS, required
  std::string user;       // empty: no AUTH
  std::string password;
  std::string helo_name = "localhost";
  std::string ca_file;                         // PKIX trust anchors; empty: the system store
  std::chrono::seconds attempt_deadline{300};  // one connection, greeting to QUIT
  std::chrono::seconds connect_timeout{30};    // the TCP connect alone (within the deadline)
  std::size_t max_addresses = 5;               // of the host's addresses, tried in turn
  ConnectionCacheLimits connection_cache;      // idle_time 0: a connection per message
  // Where the per-attempt lines go; empty: spdlog at info level.
  std::function<void(const std::string&)> log;
};

class RelayDelivery {
 public:
  // Fails on an unusable CA file.
  static std::expected<std::unique_ptr<RelayDelivery>, std::string> create(RelayOptions options);
  ~RelayDelivery();

  // One Outcome per message.recipients entry, in order, whatever their domains. Thread-safe
  // (scheduler workers call it concurrently); blocking, bounded by the options' deadlines.
  std::vector<Outcome> deliver(const smtp::OutgoingMessage& message);

 private:
  RelayDelivery(RelayOptions options, tls::SslCtxPtr ctx);
  // "relay delivery: relay=HOST:PORT address=A tls=V cipher=C verified=pkix auth=USER/MECH
  // result=..." (issue 6 item 7, like remote delivery's line).
  std::string log_line(const std::string& address, const AttemptResult* r,
                       const std::string& result) const;

  RelayOptions options_;
  tls::SslCtxPtr ctx_;
  ConnectionCache connections_;  // first to go: its idle sessions use ctx_
};

// What one attempt at the smarthost means for each of `recipients` recipients: the server's
// verdict per recipient once it judged the transaction; otherwise one deferral for all. A
// failed AUTH is 4.7.0 and a 5xx before the transaction (greeting, EHLO, TLS) is deferred too:
// both are our configuration's problem, not the recipients' (Postfix's smtp_skip_5xx_greeting).
std::vector<Outcome> relay_outcomes(const AttemptResult& r, std::size_t recipients,
                                    std::string_view relay);

}  // namespace sealpost::delivery::remote
