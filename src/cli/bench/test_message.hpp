// The message the load generator sends: a small RFC 5322 header block and a body of exactly
// the requested size in 78-octet lines, built once and shared read-only by every session. No
// body line starts with "." so no dot-stuffing is needed (RFC 5321 §4.5.2).
#pragma once

#include <cstddef>
#include <string>

namespace sealpost::bench {

// Header block + CRLF + body: body_size octets in CRLF-ended lines (1 is rounded up to 2).
std::string build_message(const std::string& from, const std::string& to, std::size_t body_size);

// The message followed by the end-of-data line ".\r\n", ready to write after 354.
std::string build_data(const std::string& from, const std::string& to, std::size_t body_size);

}  // namespace sealpost::bench
