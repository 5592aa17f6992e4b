// What the content of a message (RFC 5322 text with CRLF lines) needs from a transport: where
// its header section ends, and whether it holds 8-bit octets (8BITMIME, SMTPUTF8, RFC 6532).
#pragma once

#include <string_view>

namespace sealpost::smtp {

// True if any octet is 0x80 or above.
bool has_8bit(std::string_view text);

// The header section with the empty line that ends it (RFC 5322 §2.1): "\r\n" when the
// content starts with the empty line, all of it when there is none.
std::string_view header_section(std::string_view content);

}  // namespace sealpost::smtp
