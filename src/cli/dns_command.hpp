// `sealpost dns NAME TYPE`: one lookup through src/dns (libunbound), printing the records, the
// rcode and the DNSSEC status (secure / insecure / bogus and why). The administrator's view of
// what delivery, DANE and `send` discovery will see; the integration tests check src/dns with
// it. Uses the asynchronous dns::Resolver on its own event loop, as the daemon does. Needs no
// instance configuration.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace sealpost::cli {

class DnsCommand {
 public:
  explicit DnsCommand(CLI::App& app);  // registers "dns" on `app`

  bool parsed() const;
  // 0 answered (also NXDOMAIN / NODATA), 1 DNSSEC bogus, 75 no answer (timeout, SERVFAIL),
  // 64 usage, 78 resolver options unusable.
  int run(std::ostream& out, std::ostream& err);

 private:
  CLI::App* command_ = nullptr;
  std::string name_;
  std::string type_;
  std::vector<std::string> servers_;
  std::vector<std::string> trust_anchors_;
  bool resolv_conf_ = false;
  bool no_validate_ = false;
  bool json_ = false;
  int timeout_seconds_ = 10;
};

}  // namespace sealpost::cli
