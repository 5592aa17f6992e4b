// Keeps MTA-STS policies across restarts: one small file per policy domain in a directory
// (<state_dir>/mta-sts), written atomically (temporary file + rename). A cache, not a spool:
// no fsync, and a file that does not read back is ignored (the policy is fetched again).
// RFC 8461 §5.1: a restart must not forget a policy an attacker could then strip.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "tls/mta_sts_cache.hpp"

namespace sealpost::delivery::remote {

class MtaStsStore {
 public:
  explicit MtaStsStore(std::string directory);  // "" = keep nothing

  // The unexpired policy kept for `domain`; an expired or unreadable file is removed.
  std::optional<tls::MtaStsEntry> load(std::string_view domain,
                                       std::chrono::system_clock::time_point now) const;
  // Best effort: a write that fails leaves the in-memory cache as the only copy.
  void save(std::string_view domain, const tls::MtaStsEntry& entry) const;

 private:
  std::optional<std::string> path_of(std::string_view domain) const;
  std::string directory_;
};

}  // namespace sealpost::delivery::remote
