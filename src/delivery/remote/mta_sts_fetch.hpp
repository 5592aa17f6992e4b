// The HTTPS GET of an MTA-STS policy file (RFC 8461 §3.3) with libcurl, blocking, on the
// delivery thread that needs it. Only transport rules live here (PKIX with the host name, no
// redirects, 200 + text/plain, size and time limits); parsing is tls::parse_mta_sts_policy.
// Name resolution is the caller's: curl connects to the addresses given (CURLOPT_RESOLVE), so
// the lookup goes through our DNSSEC-aware resolver, not getaddrinfo.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::delivery::remote {

struct PolicyFetchSettings {
  int port = 443;                                    // tests serve the policy on a high port
  std::string ca_file;                               // PKIX trust anchors; empty: the system store
  std::chrono::milliseconds connect_timeout{10000};  // TCP + TLS connect
  std::chrono::milliseconds timeout{60000};          // the whole request
  std::size_t max_body = 64 * 1024;                  // larger is a failure, not a truncation
};

// Once per process, before any thread fetches (curl_global_init is not thread-safe on every
// libcurl build). Safe to call again.
void init_policy_fetch();

// GET https://mta-sts.DOMAIN:PORT/.well-known/mta-sts.txt from one of `addresses` (numeric,
// tried in order). The body, or a one-line reason ("HTTP 404", "Content-Type text/html", ...).
std::expected<std::string, std::string> fetch_policy(std::string_view domain,
                                                     const std::vector<std::string>& addresses,
                                                     const PolicyFetchSettings& settings);

}  // namespace sealpost::delivery::remote
