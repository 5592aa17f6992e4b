// SASL EXTERNAL server (RFC 4422 Appendix A): message = [authz-id-string]. Succeeds only if the
// TLS layer supplied an identity and the authzid is empty or equal to it (no impersonation).
#include "sasl/external.hpp"

#include "sasl/saslprep.hpp"

namespace sealpost::sasl {

Step ExternalMechanism::start(std::optional<std::string_view> initial_response) {
  if (state_ != State::kStart) return failure_step(Failure::kMalformed, "EXTERNAL started twice");
  if (external_identity_.empty()) {
    state_ = State::kDone;
    return failure_step(Failure::kUnavailable, "EXTERNAL: no verified TLS client identity");
  }
  if (!initial_response) {
    state_ = State::kAwaitAuthzid;
    return challenge_step({});  // App. A.1: empty challenge, then the client's message
  }
  return decide(*initial_response);
}

Step ExternalMechanism::step(std::string_view response) {
  if (state_ != State::kAwaitAuthzid) {
    state_ = State::kDone;
    return failure_step(Failure::kMalformed, "EXTERNAL: unexpected response");
  }
  return decide(response);
}

Step ExternalMechanism::decide(std::string_view authzid) {
  state_ = State::kDone;
  identity_.authcid = external_identity_;
  if (authzid.empty()) return outcome_step(Status::kSuccess);
  // authz-id-string = 1*( UTF8-char-no-nul ) (App. A.1); we also refuse controls.
  if (!acceptable_sasl_string(authzid, kMaxNameBytes)) {
    return failure_step(Failure::kMalformed, "EXTERNAL: unacceptable authzid");
  }
  identity_.authzid = authzid;
  if (authzid != external_identity_) {
    return failure_step(Failure::kAuthzidRefused, "EXTERNAL: authzid differs from TLS identity");
  }
  return outcome_step(Status::kSuccess);
}

}  // namespace sealpost::sasl
