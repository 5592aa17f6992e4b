// `sealpost user add|passwd|del|list|cert`: edits the credentials file (accounts.file) with
// the atomic writer and an edit lock; sealpostd picks the change up on its own. Passwords come
// from the terminal without echo (asked twice) or from stdin with --password-stdin.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace CLI {
class App;
}

namespace sealpost::cli {

class UserCommand {
 public:
  explicit UserCommand(CLI::App& app);  // registers "user" and its subcommands on `app`

  bool parsed() const;
  // Exit status per sysexits(3): 0, 64 usage, 65 data, 67 no such user, 73 cannot create,
  // 78 configuration.
  int run(const config::Config& config, std::istream& in, std::ostream& out, std::ostream& err);

 private:
  CLI::App* user_ = nullptr;
  CLI::App* add_ = nullptr;
  CLI::App* passwd_ = nullptr;
  CLI::App* del_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* cert_ = nullptr;
  std::string name_;
  std::vector<std::string> aliases_;
  bool authz_any_ = false;
  bool password_stdin_ = false;
  bool json_ = false;
  std::string digest_;
  std::string cert_file_;
  bool cert_none_ = false;
};

}  // namespace sealpost::cli
