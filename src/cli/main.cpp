// sealpost: the command line. Finds an instance the same way sealpostd does (--config FILE,
// or --state-dir DIR for the embedded default) and offers check-config, a read-only view of
// the queue, user management, `send` (sendmail-compatible submission over implicit TLS,
// src/cli/send; also run as argv[0] "sendmail"), `tls-check` (src/cli/tls_check) and `bench`,
// the load generator (src/cli/bench). Each subcommand registers itself from its own class.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "cli/bench/bench_driver.hpp"
#include "cli/bench/bench_options.hpp"
#include "cli/dns_command.hpp"
#include "cli/queue_command.hpp"
#include "cli/send/send_driver.hpp"
#include "cli/tls_check/tls_check_command.hpp"
#include "cli/user_command.hpp"
#include "config/config_loader.hpp"

namespace fs = std::filesystem;
using namespace sealpost;

namespace {
constexpr int kExitUsage = 64;   // sysexits.h EX_USAGE
constexpr int kExitConfig = 78;  // sysexits.h EX_CONFIG
}  // namespace

int main(int argc, char** argv) {
  // Installed as (or symlinked to) "sendmail": `sendmail -t < msg` is `sealpost send -t`.
  if (fs::path(argv[0]).filename() == "sendmail") return send::sendmail_main(argc, argv);
  CLI::App app{"sealpost - Sealpost command line"};
  app.require_subcommand(1);
  std::string config_file, state_dir;
  app.add_option("-c,--config", config_file, "the instance's configuration file");
  app.add_option("--state-dir", state_dir, "the instance's state directory (embedded default)");
  app.set_version_flag("--version", "sealpost 0.1.0");

  auto* check = app.add_subcommand("check-config", "validate a configuration file");
  std::string check_file;
  check->add_option("file", check_file, "configuration file")->required();

  cli::QueueCommand queue(app);
  cli::UserCommand user(app);
  cli::TlsCheckCommand tls_check(app);
  cli::DnsCommand dns(app);

  auto* bench_cmd =
      app.add_subcommand("bench", "SMTP load generator (implicit TLS, STARTTLS, plain)");
  bench::BenchOptions bench_options;
  bench::add_bench_options(*bench_cmd, bench_options);

  auto* send_cmd =
      app.add_subcommand("send", "submit a message from stdin over SMTPS (sendmail-compatible)");
  send::SendOptions send_options;
  send::add_send_options(*send_cmd, send_options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int status = app.exit(e);  // prints help, version or the error
    return status == 0 ? 0 : kExitUsage;
  }

  if (bench_cmd->parsed()) {  // needs no configuration: it only talks to a server
    if (auto error = bench::finish_options(bench_options)) {
      std::cerr << "sealpost bench: " << *error << "\n";
      return kExitUsage;
    }
    return bench::run_bench(bench_options, std::cout, std::cerr);
  }

  if (send_cmd->parsed()) {  // needs no instance configuration either
    if (auto error = send::finish_send_options(send_options)) {
      std::cerr << "sealpost send: " << error->message << "\n";
      return error->exit_code;
    }
    return send::run_send(send_options, std::cin, std::cerr);
  }

  if (tls_check.parsed()) return tls_check.run(std::cout, std::cerr);  // needs no instance
  if (dns.parsed()) return dns.run(std::cout, std::cerr);              // needs no instance

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
    if (queue.parsed()) return queue.run(cfg, std::cout, std::cerr);
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
