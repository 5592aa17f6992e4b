// sealpost: the command line. Finds an instance the same way sealpostd does (--config FILE,
// or --state-dir DIR for the embedded default) and offers check-config, a read-only view of
// the queue and user management. send, tls-check and bench arrive with later issues; queue
// control through the daemon's socket arrives with the queue issue.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/queue_view.hpp"
#include "cli/user_command.hpp"
#include "config/config_loader.hpp"

namespace fs = std::filesystem;
using namespace sealpost;

namespace {
constexpr int kExitUsage = 64;   // sysexits.h EX_USAGE
constexpr int kExitConfig = 78;  // sysexits.h EX_CONFIG
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sealpost - Sealpost command line"};
  app.require_subcommand(1);
  std::string config_file, state_dir;
  app.add_option("-c,--config", config_file, "the instance's configuration file");
  app.add_option("--state-dir", state_dir, "the instance's state directory (embedded default)");
  app.set_version_flag("--version", "sealpost 0.1.0");

  auto* check = app.add_subcommand("check-config", "validate a configuration file");
  std::string check_file;
  check->add_option("file", check_file, "configuration file")->required();

  auto* queue = app.add_subcommand("queue", "inspect the queue");
  queue->require_subcommand(1);
  bool json = false;
  auto* list = queue->add_subcommand("list", "list queued messages");
  list->add_flag("--json", json, "machine-readable output");
  auto* show = queue->add_subcommand("show", "print one queued message");
  std::string id;
  show->add_option("id", id, "queue id")->required();

  cli::UserCommand user(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int status = app.exit(e);  // prints help, version or the error
    return status == 0 ? 0 : kExitUsage;
  }

  try {
    if (check->parsed()) {
      config::Config cfg = config::load_file(check_file);
      std::cout << config::to_toml(cfg);
      std::cerr << check_file << ": configuration OK\n";
      return 0;
    }
    config::Config cfg = config_file.empty()
                             ? config::embedded_default(
                                   fs::absolute(state_dir.empty() ? "sealpost-state" : state_dir))
                             : config::load_file(config_file);
    if (!config_file.empty() && !state_dir.empty()) cfg.state_dir = fs::absolute(state_dir);
    if (list->parsed()) return cli::queue_list(cfg, json, std::cout);
    if (show->parsed()) return cli::queue_show(cfg, id, std::cout);
    if (user.parsed()) return user.run(cfg, std::cin, std::cout, std::cerr);
  } catch (const config::ConfigError& e) {
    std::cerr << "sealpost: " << e.what() << "\n";
    return kExitConfig;
  } catch (const std::exception& e) {
    std::cerr << "sealpost: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
