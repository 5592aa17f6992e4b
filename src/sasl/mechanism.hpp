// Server side of SASL (RFC 4422) as sans-I/O state machines: the caller feeds decoded client
// responses and gets back challenges (raw bytes; the caller base64-encodes them for SMTP AUTH,
// RFC 4954) or an outcome. No sockets, clock, randomness or logging: nonces, secrets, channel
// binding data and credentials come in through MechanismContext.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sealpost::sasl {

// Input limits. RFC 4616 §2 asks for at least 255 octets of authcid/authzid/passwd; we allow
// longer passwords. Every response is bounded before it is parsed.
inline constexpr std::size_t kMaxResponseBytes = 2048;
inline constexpr std::size_t kMaxNameBytes = 255;  // authcid, authzid (decoded)
inline constexpr std::size_t kMaxPasswordBytes = 1024;
inline constexpr std::size_t kMaxNonceBytes = 256;                // SCRAM client nonce
inline constexpr std::size_t kMinNonceBytes = 18;                 // our floor for both SCRAM nonces
inline constexpr std::uint32_t kMinScramIterations = 4096;        // RFC 7677 §4 ("at least 4096")
inline constexpr std::uint32_t kMaxScramIterations = 10'000'000;  // bound a client's PBKDF2 work

struct ScramCredentials {
  std::string salt;  // raw bytes
  std::uint32_t iterations = 0;
  std::array<unsigned char, 32> stored_key{};
  std::array<unsigned char, 32> server_key{};
};

class CredentialLookup {
 public:
  virtual ~CredentialLookup() = default;
  // In-memory lookup; nullopt if the user is unknown. The SCRAM mechanism then runs a fake
  // exchange (salt derived from the name and MechanismContext::fake_salt_secret) so that the
  // server-first-message does not reveal whether the user exists.
  virtual std::optional<ScramCredentials> scram_sha256(std::string_view authcid) const = 0;
};

struct MechanismContext {
  const CredentialLookup* lookup = nullptr;  // required by SCRAM; must outlive the mechanism
  std::string server_nonce;                  // >= 18 random printable ASCII chars (%x21-7E), no ','
  std::string fake_salt_secret;              // server-wide secret for unknown-user salts
  std::uint32_t fake_iterations = kMinScramIterations;  // should match real users' count
  // RFC 9266 channel binding data (32 bytes, label "EXPORTER-Channel-Binding") when the
  // connection is TLS 1.3; empty otherwise. Non-empty means the server advertises
  // SCRAM-SHA-256-PLUS, which makes a client's "y" flag a detected downgrade (RFC 5802 §6).
  std::string tls_exporter;
  std::string external_identity;  // verified TLS client certificate mapped to a user; or empty
};

enum class Status {
  kChallenge,       // send `data` as a challenge (SMTP: 334) and feed the reply to step()
  kVerifyPassword,  // PLAIN/LOGIN: check identity().password, then clear_password()
  kSuccess,         // authenticated as identity()
  kFailure,         // see Step::failure; SMTP: 535 (or 454 for kUnavailable)
};

enum class Failure {
  kNone,
  kMalformed,       // syntax, limits, or a step after the exchange ended
  kBadCredentials,  // SCRAM proof mismatch or unknown user
  kAuthzidRefused,  // EXTERNAL: authzid differs from the TLS identity
  kChannelBinding,  // SCRAM: missing, wrong or downgraded channel binding
  kUnavailable,     // the context lacks what the mechanism needs (lookup, nonce, TLS identity)
};

struct Step {
  Status status = Status::kFailure;
  // kChallenge: raw challenge bytes. kFailure (SCRAM): an RFC 5802 server-error such as
  // "e=invalid-proof" for protocols that can carry it; SMTP cannot (RFC 4954 §4) and just
  // replies 535, so the SMTP layer ignores it.
  std::string data;
  Failure failure = Failure::kNone;
  std::string reason;  // short text for the log; never sent to the client
};

struct Identity {
  std::string authcid;   // authentication identity (user name)
  std::string authzid;   // requested authorization identity; empty if none. The caller decides
                         // whether authzid != authcid is allowed.
  std::string password;  // PLAIN/LOGIN only: the caller verifies and then clears it
};

class ServerMechanism {
 public:
  virtual ~ServerMechanism();
  virtual std::string_view name() const = 0;
  // nullopt = no initial response; "" = empty initial response (SMTP "=", RFC 4954 §4).
  virtual Step start(std::optional<std::string_view> initial_response) = 0;
  virtual Step step(std::string_view response) = 0;

  // Filled as the exchange proceeds (authcid is known after the first response, so a failure
  // can still be logged with the name that was tried).
  const Identity& identity() const { return identity_; }
  void clear_password();  // overwrites, then empties identity().password

 protected:
  Identity identity_;
};

// Small constructors for Step, used by the mechanisms.
inline Step challenge_step(std::string data) {
  return Step{Status::kChallenge, std::move(data), Failure::kNone, {}};
}
inline Step outcome_step(Status status) { return Step{status, {}, Failure::kNone, {}}; }
inline Step failure_step(Failure failure, std::string reason, std::string data = {}) {
  return Step{Status::kFailure, std::move(data), failure, std::move(reason)};
}

// Case-insensitive name ("PLAIN", "LOGIN", "EXTERNAL", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS");
// nullptr if unknown. The context is copied; `lookup` must outlive the mechanism.
std::unique_ptr<ServerMechanism> make_server_mechanism(std::string_view name,
                                                       const MechanismContext& context);

// The mechanisms this context can actually run, strongest first, for the EHLO AUTH keyword:
// SCRAM-SHA-256-PLUS only with tls_exporter, SCRAM only with a lookup, EXTERNAL only with an
// external_identity. The caller still decides policy (e.g. no PLAIN before TLS).
std::vector<std::string_view> available_server_mechanisms(const MechanismContext& context);

}  // namespace sealpost::sasl
