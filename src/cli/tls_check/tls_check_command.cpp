#include "cli/tls_check/tls_check_command.hpp"

#include <CLI/CLI.hpp>
#include <ostream>

namespace sealpost::cli {

TlsCheckCommand::TlsCheckCommand(CLI::App& app) {
  command_ = app.add_subcommand("tls-check", "diagnose a server's TLS (not implemented yet)");
}

bool TlsCheckCommand::parsed() const { return command_->parsed(); }

int TlsCheckCommand::run(std::ostream&, std::ostream& err) {
  err << "sealpost tls-check: not implemented yet\n";
  return 69;  // EX_UNAVAILABLE
}

}  // namespace sealpost::cli
