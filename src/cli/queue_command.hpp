// `sealpost queue list|show|flush|hold|release|delete`: the administrator's queue tools, in the
// manner of Postfix's postqueue/postsuper. Everything goes through sealpostd's control socket
// (src/control); list and show fall back to reading the spool files when the daemon is not
// running, changes then exit 69 (EX_UNAVAILABLE).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace CLI {
class App;
}

namespace sealpost::cli {

class QueueCommand {
 public:
  explicit QueueCommand(CLI::App& app);  // registers "queue" and its subcommands on `app`

  bool parsed() const;
  // Exit status per sysexits(3): 0, 64 usage, 67 unknown queue id, 69 sealpostd not running,
  // 74 the spool could not record a change, 77 not allowed.
  int run(const config::Config& config, std::ostream& out, std::ostream& err);

 private:
  CLI::App* queue_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* flush_ = nullptr;
  CLI::App* hold_ = nullptr;
  CLI::App* release_ = nullptr;
  CLI::App* delete_ = nullptr;
  bool json_ = false;
  bool all_ = false;
  std::vector<std::string> ids_;  // show: exactly one
};

}  // namespace sealpost::cli
