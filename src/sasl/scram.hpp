// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, server side (RFC 5802, RFC 7677), with the
// "tls-exporter" channel binding of RFC 9266. The mechanism checks the client proof itself
// against StoredKey; it never sees a password. Exchange (SMTP AUTH, RFC 4954):
//   client-first  -> kChallenge server-first
//   client-final  -> kChallenge "v=ServerSignature"   (or kFailure, e.g. kBadCredentials)
//   "" (empty)    -> kSuccess
// A failure carries an RFC 5802 server-error in Step::data ("e=invalid-proof", ...); SMTP
// cannot send it and replies 535.
#pragma once

#include "sasl/mechanism.hpp"
#include "sasl/scram_message.hpp"

namespace sealpost::sasl {

class ScramSha256Mechanism final : public ServerMechanism {
 public:
  // `plus` selects SCRAM-SHA-256-PLUS. The context is copied; its lookup must outlive us.
  ScramSha256Mechanism(const MechanismContext& context, bool plus);
  std::string_view name() const override;
  Step start(std::optional<std::string_view> initial_response) override;
  Step step(std::string_view response) override;

 private:
  Step on_client_first(std::string_view message);
  Step on_client_final(std::string_view message);
  Step fail(Failure failure, std::string reason, std::string_view server_error);

  MechanismContext context_;
  bool plus_;
  enum class State { kStart, kAwaitClientFirst, kAwaitClientFinal, kAwaitAck, kDone };
  State state_ = State::kStart;
  ScramCredentials credentials_;
  bool unknown_user_ = false;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;  // c-nonce + s-nonce
};

}  // namespace sealpost::sasl
