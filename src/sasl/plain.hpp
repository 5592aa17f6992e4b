// SASL PLAIN, server side (RFC 4616): one message "[authzid] NUL authcid NUL passwd". The
// mechanism only parses; the caller verifies the password (kVerifyPassword) off the event loop.
#pragma once

#include "sasl/mechanism.hpp"

namespace sealpost::sasl {

class PlainMechanism final : public ServerMechanism {
 public:
  ~PlainMechanism() override;
  std::string_view name() const override { return "PLAIN"; }
  Step start(std::optional<std::string_view> initial_response) override;
  Step step(std::string_view response) override;

 private:
  Step parse(std::string_view message);
  enum class State { kStart, kAwaitMessage, kDone } state_ = State::kStart;
};

}  // namespace sealpost::sasl
