// Orders SRV records for connection attempts per RFC 2782 ("Usage rules"): ascending priority,
// within one priority a weighted random draw. Also recognises RFC 2782's "service decidedly not
// available" answer (a single record whose target is "."). Dependency-free C++20.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dns/rdata.hpp"

namespace sealpost::dns {

// Returns a number uniformly in [0, bound] (inclusive, as RFC 2782 draws it).
using RandomUpTo = std::function<std::uint32_t(std::uint32_t bound)>;

// The records in the order to try them. "." targets are dropped (they name no host).
std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, const RandomUpTo& random);
std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records);  // std::random_device

// RFC 2782: 'A Target of "." means that the service is decidedly not available at this domain.'
// True when the set is exactly one record with target "." (RFC 6186 §3 repeats the rule).
bool srv_service_unavailable(const std::vector<SrvRecord>& records);

}  // namespace sealpost::dns
