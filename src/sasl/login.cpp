// SASL LOGIN server (draft-murchison-sasl-login-00 §2): user name, then password, each as a
// separate response. The caller verifies the password (kVerifyPassword).
#include "sasl/login.hpp"

#include "sasl/saslprep.hpp"

namespace sealpost::sasl {

LoginMechanism::~LoginMechanism() { clear_password(); }

Step LoginMechanism::start(std::optional<std::string_view> initial_response) {
  if (state_ != State::kStart) return failure_step(Failure::kMalformed, "LOGIN started twice");
  if (!initial_response) {
    state_ = State::kAwaitUsername;
    return challenge_step("Username:");
  }
  return take_username(*initial_response);
}

Step LoginMechanism::step(std::string_view response) {
  switch (state_) {
    case State::kAwaitUsername:
      return take_username(response);
    case State::kAwaitPassword:
      state_ = State::kDone;
      // The draft has no NUL-free rule, but a NUL or control in a password is never legitimate.
      if (!acceptable_sasl_string(response, kMaxPasswordBytes)) {
        return failure_step(Failure::kMalformed, "LOGIN: empty or unacceptable password");
      }
      identity_.password = response;
      return outcome_step(Status::kVerifyPassword);
    case State::kStart:
    case State::kDone:
      break;
  }
  state_ = State::kDone;
  return failure_step(Failure::kMalformed, "LOGIN: unexpected response");
}

Step LoginMechanism::take_username(std::string_view username) {
  if (!acceptable_sasl_string(username, kMaxNameBytes)) {
    state_ = State::kDone;
    return failure_step(Failure::kMalformed, "LOGIN: empty or unacceptable user name");
  }
  identity_.authcid = username;
  state_ = State::kAwaitPassword;
  return challenge_step("Password:");
}

}  // namespace sealpost::sasl
