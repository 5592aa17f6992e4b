// `sealpost tls-check HOST[:PORT]`: connects to a server, reports its TLS parameters and
// certificate chain and whether verification passed (PKIX, or DANE from --tlsa records or
// from DNSSEC-signed TLSA with --dane). Needs no instance configuration.
#pragma once

#include <iosfwd>
#include <memory>

namespace CLI {
class App;
}

namespace sealpost::cli {

namespace tls_check {
struct Options;
}

class TlsCheckCommand {
 public:
  explicit TlsCheckCommand(CLI::App& app);  // registers "tls-check" on `app`
  ~TlsCheckCommand();

  bool parsed() const;
  // Exit status: 0 verified, 1 TLS up but not verified, else sysexits(3) (64 usage, 68 no
  // host, 69 no service / no TLS, 75 temporary, 76 protocol, 78 unusable resolver options).
  int run(std::ostream& out, std::ostream& err);

 private:
  CLI::App* command_ = nullptr;
  std::unique_ptr<tls_check::Options> options_;
};

}  // namespace sealpost::cli
