// What the dev instance prints on start: where it listens and how to send a test message.
#pragma once

#include <string>

#include "config/config.hpp"

namespace sealpost::daemon {

std::string dev_banner(const config::Config& config);

}  // namespace sealpost::daemon
