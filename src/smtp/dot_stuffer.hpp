// Message content for the wire, client side: the DATA encoding (dot-stuffing and the
// terminator, RFC 5321 §4.5.2 and §4.1.1.4) and line-end canonicalisation for text that comes
// from a Unix program (`sealpost send` reads LF-terminated stdin). The session itself only
// takes canonical CRLF content; converting is an explicit step of the caller.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sealpost::smtp {

// True if every CR and LF in `content` is part of a CRLF pair (RFC 5321 §2.3.8).
bool is_crlf_text(std::string_view content);

// LF and CRLF become CRLF; a missing final line end is added. nullopt if the text holds a bare
// CR: its meaning is unknowable and lone CRs are what SMTP smuggling is made of.
std::optional<std::string> to_crlf(std::string_view text);

// The DATA form of canonical content (CRLF only, empty or ending in CRLF): a '.' is doubled at
// the start of every line, and "." CRLF is appended, so only our terminator can end the data.
std::string dot_stuff(std::string_view content);

}  // namespace sealpost::smtp
