// Client side of SASL for `sealpost send`: PLAIN, LOGIN, SCRAM-SHA-256(-PLUS) as sans-I/O
// state machines mirroring the server mechanisms. The caller base64-codes SMTP AUTH lines
// (RFC 4954) and supplies the nonce and TLS exporter; nothing here does I/O or randomness.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace sealpost::sasl {

struct ClientContext {
  std::string authcid;
  std::string authzid;  // empty: act as authcid
  std::string password;
  std::string client_nonce;  // SCRAM: >= 18 random printable ASCII chars (%x21-7E), no ','
  std::string tls_exporter;  // RFC 9266 data (32 bytes) on TLS 1.3, else empty
};

enum class ClientStatus { kRespond, kFailure };

struct ClientStep {
  ClientStatus status = ClientStatus::kFailure;
  std::string data;    // kRespond: raw response bytes (may be empty)
  std::string reason;  // kFailure: for the user / log
};

class ClientMechanism {
 public:
  virtual ~ClientMechanism() = default;
  virtual std::string_view name() const = 0;
  // The initial response to send with AUTH (raw; "" is sent as "=" in SMTP), or nullopt if the
  // mechanism waits for a first challenge. Call once, before any step().
  virtual std::optional<std::string> initial_response() = 0;
  // Answer a challenge (decoded bytes of a 334 reply).
  virtual ClientStep step(std::string_view challenge) = 0;
  // True when a server "success" may be believed: for SCRAM only after the server signature
  // has been verified (mutual authentication, RFC 5802 §3). A 235 while !complete() is a
  // failure: the server did not prove that it knows the credentials.
  virtual bool complete() const = 0;
};

// Case-insensitive name. nullptr if the name is unknown or the context cannot be used with it:
// authcid/authzid/password empty or failing the reduced SASLprep (saslprep.hpp), a SCRAM nonce
// that is short or not printable, or -PLUS without a 32-byte exporter.
std::unique_ptr<ClientMechanism> make_client_mechanism(std::string_view name,
                                                       const ClientContext& context);

// Picks the strongest mechanism we implement from the server's EHLO AUTH list (space
// separated): SCRAM-SHA-256-PLUS (only with an exporter), SCRAM-SHA-256, PLAIN, LOGIN.
// nullopt if none is offered.
std::optional<std::string_view> choose_client_mechanism(std::string_view advertised,
                                                        bool have_tls_exporter);

}  // namespace sealpost::sasl
