// SCRAM-SHA-256(-PLUS) client (RFC 5802 §5, RFC 7677, RFC 9266 "tls-exporter"). Verifies the
// server nonce prefix, the iteration floor and, at the end, the server signature.
#pragma once

#include "sasl/client_mechanism.hpp"
#include "sasl/scram_keys.hpp"

namespace sealpost::sasl {

class ScramSha256Client final : public ClientMechanism {
 public:
  // The context must already be valid (make_client_mechanism checks it).
  ScramSha256Client(ClientContext context, bool plus);
  ~ScramSha256Client() override;
  std::string_view name() const override;
  std::optional<std::string> initial_response() override;
  ClientStep step(std::string_view challenge) override;
  bool complete() const override { return state_ == State::kVerified; }

 private:
  ClientStep on_server_first(std::string_view message);
  ClientStep on_server_final(std::string_view message);
  ClientStep fail(std::string reason);

  ClientContext context_;
  bool plus_;
  enum class State { kStart, kAwaitServerFirst, kAwaitServerFinal, kVerified, kDone };
  State state_ = State::kStart;
  std::string gs2_header_;
  std::string client_first_bare_;
  Sha256Digest server_signature_{};
};

}  // namespace sealpost::sasl
