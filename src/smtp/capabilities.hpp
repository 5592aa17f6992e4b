// What a server's EHLO reply offers (RFC 5321 §4.1.1.1: one keyword and its parameters per
// line after the first). Only the extensions the client acts on are kept; unknown keywords
// are ignored, as RFC 5321 §2.2.2 asks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "smtp/reply.hpp"

namespace sealpost::smtp {

struct Capabilities {
  bool esmtp = false;                        // the EHLO reply (false: none yet, or a HELO fallback)
  bool size = false;                         // RFC 1870
  std::uint64_t size_limit = 0;              // SIZE's fixed maximum; 0 = none announced
  bool pipelining = false;                   // RFC 2920
  bool eight_bit_mime = false;               // RFC 6152
  bool smtputf8 = false;                     // RFC 6531
  bool chunking = false;                     // RFC 3030
  bool starttls = false;                     // RFC 3207
  bool enhanced_status_codes = false;        // RFC 2034
  bool dsn = false;                          // RFC 3461
  bool requiretls = false;                   // RFC 8689
  std::vector<std::string> auth_mechanisms;  // RFC 4954, upper-cased, in the server's order
};

// From a positive EHLO reply (its lines as parsed by ReplyParser).
Capabilities parse_capabilities(const Reply& ehlo_reply);

}  // namespace sealpost::smtp
