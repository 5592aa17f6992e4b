// MTA-STS policy discovery for one destination domain (RFC 8461 §3, §5.1): the `_mta-sts` TXT
// record through our resolver, the shared cache (and its copy on disk), and an HTTPS fetch
// when the record announces a policy we do not hold. Blocking; thread-safe (one instance per
// RemoteDelivery, used by every delivery thread with its own resolver).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "delivery/remote/mta_sts_fetch.hpp"
#include "delivery/remote/mta_sts_store.hpp"
#include "dns/resolver.hpp"
#include "tls/mta_sts_cache.hpp"

namespace sealpost::delivery::remote {

struct MtaStsFound {
  std::optional<tls::MtaStsPolicy> policy;  // unset: none; "mta-sts" passes to the next policy
  std::string note;  // one line for the log on anything but "no TXT record, nothing cached"
};

class MtaStsDiscovery {
 public:
  MtaStsDiscovery(PolicyFetchSettings fetch, std::size_t cache_size, std::string cache_dir);

  // `domain`: lower case, no trailing dot.
  MtaStsFound discover(const std::string& domain, dns::BlockingResolver& resolver);

 private:
  std::expected<tls::MtaStsEntry, std::string> fetch(const std::string& domain,
                                                     const std::string& id,
                                                     dns::BlockingResolver& resolver);

  PolicyFetchSettings fetch_settings_;
  tls::MtaStsCache cache_;
  MtaStsStore store_;
};

}  // namespace sealpost::delivery::remote
