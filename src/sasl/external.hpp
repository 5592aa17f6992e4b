// SASL EXTERNAL, server side (RFC 4422 Appendix A): the identity comes from the TLS layer
// (a verified client certificate mapped to a user); the client may only name that same
// identity as authzid, or none.
#pragma once

#include "sasl/mechanism.hpp"

namespace sealpost::sasl {

class ExternalMechanism final : public ServerMechanism {
 public:
  explicit ExternalMechanism(std::string external_identity)
      : external_identity_(std::move(external_identity)) {}
  std::string_view name() const override { return "EXTERNAL"; }
  Step start(std::optional<std::string_view> initial_response) override;
  Step step(std::string_view response) override;

 private:
  Step decide(std::string_view authzid);
  std::string external_identity_;
  enum class State { kStart, kAwaitAuthzid, kDone } state_ = State::kStart;
};

}  // namespace sealpost::sasl
