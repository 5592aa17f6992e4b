// What the dev instance prints on start: where it listens and how to send a test message.
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace sealpost::daemon {

// demo_password: set only on the first start, when the users file was just created.
std::string dev_banner(const config::Config& config,
                       const std::optional<std::string>& demo_password);

}  // namespace sealpost::daemon
