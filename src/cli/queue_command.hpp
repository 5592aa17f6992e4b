// `sealpost queue list|show`: the administrator's view of the queue. Reads the spool directly
// (src/cli/queue_view), so it works with or without a running daemon.
#pragma once

#include <iosfwd>
#include <string>

#include "config/config.hpp"

namespace CLI {
class App;
}

namespace sealpost::cli {

class QueueCommand {
 public:
  explicit QueueCommand(CLI::App& app);  // registers "queue" and its subcommands on `app`

  bool parsed() const;
  // Exit status per sysexits(3).
  int run(const config::Config& config, std::ostream& out, std::ostream& err);

 private:
  CLI::App* queue_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* show_ = nullptr;
  bool json_ = false;
  std::string id_;
};

}  // namespace sealpost::cli
