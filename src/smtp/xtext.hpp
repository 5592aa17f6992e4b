// The two text encodings of DSN parameter values: xtext (RFC 3461 §4: "+" and two upper-case
// hex digits for anything outside "!".."~", "+" and "=") and RFC 6533's utf-8-addr-xtext /
// utf-8-addr-unitext ("\x{HEX}" for a code point) used by ORCPT=utf-8;... .
// Decoding validates strictly; encoding always produces 7-bit text.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sealpost::smtp {

// RFC 3461 §4 xtext. nullopt: a '+' without two upper-case hex digits, or a byte outside
// 33..126, or a raw '+' or '='. The decoded bytes are not checked further.
std::optional<std::string> xtext_decode(std::string_view text);
std::string xtext_encode(std::string_view bytes);

// RFC 6533 §3 utf-8-addr-unitext (a superset of utf-8-addr-xtext: raw UTF-8 is allowed too).
// nullopt: malformed UTF-8, a raw '+', '=', '\\' or control, or an EmbeddedUnicodeChar that is
// not in its one permitted form (shortest hex, no surrogate, nothing a QCHAR could say).
std::optional<std::string> utf8_addr_decode(std::string_view text);
// utf-8-addr-xtext: 7-bit, so safe whether or not the peer offers SMTPUTF8. `utf8` must be
// valid UTF-8.
std::string utf8_addr_encode(std::string_view utf8);

// Printable US-ASCII including space (RFC 3461 §4.2/§4.4 for ORCPT rfc822 and ENVID).
bool is_printable_ascii(std::string_view s);

}  // namespace sealpost::smtp
