#include "cli/queue_command.hpp"

#include <CLI/CLI.hpp>
#include <ostream>

#include "cli/queue_view.hpp"

namespace sealpost::cli {

QueueCommand::QueueCommand(CLI::App& app) {
  queue_ = app.add_subcommand("queue", "inspect the queue");
  queue_->require_subcommand(1);
  list_ = queue_->add_subcommand("list", "list queued messages");
  list_->add_flag("--json", json_, "machine-readable output");
  show_ = queue_->add_subcommand("show", "print one queued message");
  show_->add_option("id", id_, "queue id")->required();
}

bool QueueCommand::parsed() const { return queue_->parsed(); }

int QueueCommand::run(const config::Config& config, std::ostream& out, std::ostream&) {
  if (list_->parsed()) return queue_list(config, json_, out);
  if (show_->parsed()) return queue_show(config, id_, out);
  return 64;  // EX_USAGE
}

}  // namespace sealpost::cli
