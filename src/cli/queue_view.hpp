// Read-only views of an instance's spool for `sealpost queue list|show`. Reads the files
// directly (no daemon needed); never modifies the spool.
#pragma once

#include <ostream>
#include <string>

#include "config/config.hpp"

namespace sealpost::cli {

int queue_list(const config::Config& config, bool json, std::ostream& out);
int queue_show(const config::Config& config, const std::string& id, std::ostream& out);

}  // namespace sealpost::cli
