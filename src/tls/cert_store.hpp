// Holds the current ServerContexts of every listener and swaps them atomically on reload
// (SIGHUP). Sessions already running keep the SSL_CTX they started with (OpenSSL reference
// counts it), so a reload never drops an open session. A failed reload keeps the old set.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "tls/server_context.hpp"

namespace sealpost::tls {

class CertStore {
 public:
  // Builds contexts for every listener with TLS. Throws on the first bad pki.
  explicit CertStore(const config::Config& config);

  // Contexts for listener i (index into config.listeners); nullptr if it has tls = "none".
  std::shared_ptr<const ServerContexts> contexts(std::size_t listener) const;

  // Rebuilds from the same config (files re-read). On error returns the message and keeps
  // the previous contexts; on success returns "".
  std::string reload();

 private:
  std::vector<std::shared_ptr<const ServerContexts>> build() const;

  config::Config config_;
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<const ServerContexts>> current_;
};

}  // namespace sealpost::tls
