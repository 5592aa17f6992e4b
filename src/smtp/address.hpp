// Mailbox and path syntax of RFC 5321 §4.1.2, extended for UTF-8 by RFC 6531 §3.3
// (non-ASCII atext, qtext and U-labels). Lengths per RFC 5321 §4.5.3.1. No IDNA mapping:
// U-labels are checked for well-formed UTF-8 only and compared as given.
#pragma once

#include <string>
#include <string_view>

namespace sealpost::smtp {

struct Mailbox {
  std::string local_part;  // as written, including quotes if it was a quoted-string
  std::string domain;      // domain or address literal ("[192.0.2.1]"); empty only for
                           // the bare <Postmaster> of RFC 5321 §4.1.1.3
  bool non_ascii = false;  // needs SMTPUTF8

  std::string text() const { return domain.empty() ? local_part : local_part + "@" + domain; }
};

enum class PathError { kNone, kSyntax, kTooLong };

struct ParsedPath {
  PathError error = PathError::kNone;
  bool null_path = false;  // "<>"
  Mailbox mailbox;
  std::string_view rest;  // what follows '>' (ESMTP parameters), leading spaces kept
  bool ok() const { return error == PathError::kNone; }
};

struct PathOptions {
  bool allow_null = false;        // reverse-path may be <>
  bool allow_postmaster = false;  // forward-path may be <Postmaster>
};

// Parses "<...>" at the start of `in` (source routes are accepted and dropped, RFC 5321 §C).
ParsedPath parse_path(std::string_view in, PathOptions options);

bool is_valid_utf8(std::string_view s);
bool is_valid_domain(std::string_view domain);  // sub-domains and U-labels, not literals
bool is_valid_address_literal(std::string_view literal);
bool is_ascii_case_equal(std::string_view a, std::string_view b);
std::string ascii_lower(std::string_view s);

}  // namespace sealpost::smtp
