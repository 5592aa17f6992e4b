// Builds each listener's ServerContexts from the config and swaps the whole set on reload.
// Listeners naming the same pki list share one ServerContexts. Watching files and signal
// handling are the daemon's job; this only re-reads when asked.
#include "tls/cert_store.hpp"

#include <spdlog/spdlog.h>

#include <exception>
#include <map>

namespace sealpost::tls {

CertStore::CertStore(const config::Config& config) : config_(config), current_(build()) {}

std::shared_ptr<const ServerContexts> CertStore::contexts(std::size_t listener) const {
  std::lock_guard lock(mutex_);
  return listener < current_.size() ? current_[listener] : nullptr;
}

std::string CertStore::reload() {
  std::vector<std::shared_ptr<const ServerContexts>> fresh;
  try {
    fresh = build();  // outside the lock: reading files must not stall new connections
  } catch (const std::exception& e) {
    spdlog::error("tls: reload failed, keeping the previous certificates: {}", e.what());
    return e.what();
  }
  {
    std::lock_guard lock(mutex_);
    current_.swap(fresh);
  }
  // The old set is released here, outside the lock; SSLs still using it hold their own refs.
  spdlog::info("tls: certificates reloaded for {} listener(s)", config_.listeners.size());
  return "";
}

std::vector<std::shared_ptr<const ServerContexts>> CertStore::build() const {
  std::map<std::vector<std::string>, std::shared_ptr<const ServerContexts>> by_pki;
  std::vector<std::shared_ptr<const ServerContexts>> out;
  out.reserve(config_.listeners.size());
  for (const config::Listener& listener : config_.listeners) {
    if (listener.tls == config::TlsMode::kNone) {
      out.push_back(nullptr);
      continue;
    }
    auto& shared = by_pki[listener.pki];
    if (!shared) shared = std::make_shared<const ServerContexts>(config_.pki, listener.pki);
    out.push_back(shared);
  }
  return out;
}

}  // namespace sealpost::tls
