// SASL PLAIN server (RFC 4616 §2): message = [authzid] UTF8NUL authcid UTF8NUL passwd.
// Leaves out password checking (the caller's job) and any authzid policy.
#include "sasl/plain.hpp"

#include "sasl/saslprep.hpp"

namespace sealpost::sasl {

PlainMechanism::~PlainMechanism() { clear_password(); }

Step PlainMechanism::start(std::optional<std::string_view> initial_response) {
  if (state_ != State::kStart) return failure_step(Failure::kMalformed, "PLAIN started twice");
  if (!initial_response) {
    // RFC 4422 §5: without an initial response the server sends an empty challenge.
    state_ = State::kAwaitMessage;
    return challenge_step({});
  }
  return parse(*initial_response);
}

Step PlainMechanism::step(std::string_view response) {
  if (state_ != State::kAwaitMessage) {
    state_ = State::kDone;
    return failure_step(Failure::kMalformed, "PLAIN: unexpected response");
  }
  return parse(response);
}

Step PlainMechanism::parse(std::string_view message) {
  state_ = State::kDone;
  if (message.size() > kMaxResponseBytes) {
    return failure_step(Failure::kMalformed, "PLAIN: message too long");
  }
  // Exactly two NULs: authzid, authcid and passwd are 1*SAFE and SAFE excludes NUL (§2).
  const std::size_t first = message.find('\0');
  const std::size_t second =
      first == std::string_view::npos ? first : message.find('\0', first + 1);
  if (second == std::string_view::npos ||
      message.find('\0', second + 1) != std::string_view::npos) {
    return failure_step(Failure::kMalformed, "PLAIN: message needs exactly two NULs");
  }
  const std::string_view authzid = message.substr(0, first);
  const std::string_view authcid = message.substr(first + 1, second - first - 1);
  const std::string_view password = message.substr(second + 1);
  // An empty authzid means "derive it from authcid" (§2); a present one must be a valid name.
  if (!authzid.empty() && !acceptable_sasl_string(authzid, kMaxNameBytes)) {
    return failure_step(Failure::kMalformed, "PLAIN: unacceptable authzid");
  }
  if (!acceptable_sasl_string(authcid, kMaxNameBytes)) {
    return failure_step(Failure::kMalformed, "PLAIN: empty or unacceptable authcid");
  }
  identity_.authcid = authcid;
  identity_.authzid = authzid;
  if (!acceptable_sasl_string(password, kMaxPasswordBytes)) {
    return failure_step(Failure::kMalformed, "PLAIN: empty or unacceptable password");
  }
  identity_.password = password;
  return outcome_step(Status::kVerifyPassword);
}

}  // namespace sealpost::sasl
