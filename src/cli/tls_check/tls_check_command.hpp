// `sealpost tls-check HOST[:PORT]`: connects to a server, reports its TLS parameters and
// certificate chain and whether verification passed. Needs no instance configuration.
#pragma once

#include <iosfwd>

namespace CLI {
class App;
}

namespace sealpost::cli {

class TlsCheckCommand {
 public:
  explicit TlsCheckCommand(CLI::App& app);  // registers "tls-check" on `app`

  bool parsed() const;
  int run(std::ostream& out, std::ostream& err);

 private:
  CLI::App* command_ = nullptr;
};

}  // namespace sealpost::cli
