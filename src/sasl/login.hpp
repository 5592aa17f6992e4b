// SASL LOGIN, server side (draft-murchison-sasl-login-00; no RFC): challenges "Username:" and
// "Password:". An initial response is taken as the user name. No authzid.
#pragma once

#include "sasl/mechanism.hpp"

namespace sealpost::sasl {

class LoginMechanism final : public ServerMechanism {
 public:
  ~LoginMechanism() override;
  std::string_view name() const override { return "LOGIN"; }
  Step start(std::optional<std::string_view> initial_response) override;
  Step step(std::string_view response) override;

 private:
  Step take_username(std::string_view username);
  enum class State { kStart, kAwaitUsername, kAwaitPassword, kDone } state_ = State::kStart;
};

}  // namespace sealpost::sasl
