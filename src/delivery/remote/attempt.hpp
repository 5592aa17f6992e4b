// One delivery attempt: one TCP connection to one address of one MX host (or of the smarthost),
// the SMTP dialogue (smtp::ClientSession) and the TLS policy check between STARTTLS (or the
// implicit TLS handshake) and AUTH / MAIL FROM. Blocking, bounded by a deadline. Nothing of the
// message, and no credential, leaves before tls::evaluate() said proceed. With a
// ConnectionCache, a connection kept under the same key carries the message instead, and a
// healthy connection is kept afterwards rather than ended with QUIT.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "delivery/outcome.hpp"
#include "delivery/remote/connection_cache.hpp"
#include "smtp/client_session.hpp"
#include "tls/client_verify.hpp"
#include "tls/policy.hpp"

namespace sealpost::delivery::remote {

struct AttemptTarget {
  std::string host;     // MX host name (reference identity, SNI)
  std::string address;  // numeric
  int port = 25;
};

struct AttemptResult {
  // Set when the server judged the transaction: one outcome per recipient, final for this run.
  std::optional<std::vector<Outcome>> recipients;
  // Otherwise why this address failed (a TempFail/PermFail for every recipient if it is the
  // last thing tried).
  Outcome failure = TempFail{"451 4.4.1 not tried"};
  bool retry_cleartext = false;  // `may`/`none`: the handshake failed, a cleartext retry is OK
  // For the log line (issue 6 item 7).
  std::string tls_version;  // "" = cleartext
  std::string cipher;
  std::string verified = "none";  // dane-ee | dane-ta | pkix | none
  std::string reason;             // the policy verdict or failure
  // Why the session ended early (kNone when it ran to QUIT), and the AUTH mechanism that
  // succeeded ("" = none): the smarthost relay words its deferrals and its log line by them.
  smtp::SessionFailure session_failure{};
  std::string auth_mechanism{};
  bool reused = false;  // the message went over a kept connection (the TLS fields are its)
};

struct AttemptSettings {
  std::string helo_name;
  SSL_CTX* ssl_ctx = nullptr;  // non-enforcing client context (tls::evaluate decides)
  std::chrono::seconds deadline{300};
  std::chrono::seconds connect_timeout{30};  // the TCP connect alone, capped by `deadline`
  bool cleartext = false;  // the cleartext retry after a failed opportunistic handshake
  // RFC 8314 §3.3: TLS from the first byte (the smarthost's port 465), no STARTTLS.
  bool implicit_tls = false;
  // AUTH with these credentials (null: none); the session sends them only inside TLS.
  smtp::ClientAuthenticator* authenticator = nullptr;
  // Called once TLS is up and the policy said proceed (e.g. to hand the RFC 9266 exporter to
  // the authenticator for SCRAM-SHA-256-PLUS).
  std::function<void(SSL*)> on_tls{};
  // Connection reuse (null: none). The AUTH identity is part of the key, next to the host and
  // the TLS requirement: a connection authenticated as one user never carries another's mail.
  ConnectionCache* cache = nullptr;
  std::string auth_identity{};
};

AttemptResult attempt(const AttemptTarget& target, const tls::Requirement& requirement,
                      const smtp::OutgoingMessage& message, const AttemptSettings& settings);

}  // namespace sealpost::delivery::remote
