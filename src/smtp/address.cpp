// Path and mailbox parsing (RFC 5321 §4.1.2, RFC 6531 §3.3). Hand-written because the grammar
// is small and no Debian library parses SMTP paths; every loop is bounded by the input length.
#include "smtp/address.hpp"

#include <arpa/inet.h>

#include <cstdint>

namespace sealpost::smtp {

namespace {

constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 §4.5.3.1.1
constexpr std::size_t kMaxDomain = 255;    // RFC 5321 §4.5.3.1.2
constexpr std::size_t kMaxPath = 256;      // RFC 5321 §4.5.3.1.3, including the brackets

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// RFC 5322 atext; bytes >= 0x80 are allowed here and checked as UTF-8 afterwards.
bool is_atext(unsigned char c) {
  if (is_alpha(c) || is_digit(c) || c >= 0x80) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '/':
    case '=':
    case '?':
    case '^':
    case '_':
    case '`':
    case '{':
    case '|':
    case '}':
    case '~':
      return true;
    default:
      return false;
  }
}

bool has_non_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return true;
  return false;
}

// Dot-string: Atom *("." Atom).
bool is_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (unsigned char c : s) {
    if (c == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = static_cast<char>(c);
  }
  return true;
}

// Quoted-string with qtextSMTP / quoted-pairSMTP (RFC 5321 §4.1.2), UTF-8 per RFC 6531.
bool is_quoted_string(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    unsigned char c = s[i];
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      unsigned char q = s[++i];
      if (q < 32 || q > 126) return false;
    } else if (c == '"' || (c < 32) || c == 127) {
      return false;
    }
  }
  return true;
}

// Length of the local part at the start of `s` (up to the '@'), or npos on a syntax error.
std::size_t scan_local_part(std::string_view s) {
  if (!s.empty() && s.front() == '"') {
    for (std::size_t i = 1; i < s.size(); ++i) {
      if (s[i] == '\\') {
        ++i;
      } else if (s[i] == '"') {
        return i + 1;
      }
    }
    return std::string_view::npos;
  }
  std::size_t at = s.find('@');
  return at == std::string_view::npos ? s.size() : at;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n >= s.size() - i) return false;  // truncated sequence
    for (std::size_t k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid (RFC 3629).
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    i += n + 1;
  }
  return true;
}

bool is_valid_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > kMaxDomain) return false;
  std::size_t start = 0;
  while (start <= domain.size()) {
    std::size_t dot = domain.find('.', start);
    std::string_view label =
        domain.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    // sub-domain = Let-dig [Ldh-str] (RFC 5321 §4.1.2); U-labels (RFC 6531) as UTF-8.
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (unsigned char c : label)
      if (!(is_alpha(c) || is_digit(c) || c == '-' || c >= 0x80)) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return is_valid_utf8(domain);
}

bool is_valid_address_literal(std::string_view literal) {
  if (literal.size() < 3 || literal.front() != '[' || literal.back() != ']') return false;
  std::string inner(literal.substr(1, literal.size() - 2));
  // inet_pton reads a C string: an embedded NUL would hide whatever follows it.
  if (inner.find('\0') != std::string::npos) return false;
  unsigned char buf[16];
  if (inner.rfind("IPv6:", 0) == 0) return inet_pton(AF_INET6, inner.c_str() + 5, buf) == 1;
  // Only IPv4 and IPv6 literals: RFC 5321 §4.1.3 General-address-literal has no registered tags.
  bool dotted = !inner.empty();
  for (char c : inner) dotted = dotted && (is_digit(c) || c == '.');
  return dotted && inet_pton(AF_INET, inner.c_str(), buf) == 1;
}

bool is_ascii_case_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    unsigned char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x += 32;
    if (y >= 'A' && y <= 'Z') y += 32;
    if (x != y) return false;
  }
  return true;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

ParsedPath parse_path(std::string_view in, PathOptions options) {
  ParsedPath result;
  result.error = PathError::kSyntax;
  if (in.empty() || in.front() != '<') return result;
  std::size_t close = std::string_view::npos;
  // Find the closing '>' outside a quoted local part.
  bool quoted = false;
  for (std::size_t i = 1; i < in.size(); ++i) {
    if (quoted && in[i] == '\\') {
      ++i;
    } else if (in[i] == '"') {
      quoted = !quoted;
    } else if (!quoted && in[i] == '>') {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) return result;
  if (close + 1 > kMaxPath) {
    result.error = PathError::kTooLong;
    return result;
  }
  std::string_view inner = in.substr(1, close - 1);
  result.rest = in.substr(close + 1);
  if (inner.empty()) {
    if (!options.allow_null) return result;
    result.null_path = true;
    result.error = PathError::kNone;
    return result;
  }
  // A-d-l ":" — obsolete source route, accepted and ignored (RFC 5321 §3.3, Appendix C).
  if (inner.front() == '@') {
    std::size_t colon = inner.find(':');
    if (colon == std::string_view::npos) return result;
    std::string_view route = inner.substr(0, colon);
    std::size_t start = 0;
    while (start < route.size()) {
      std::size_t comma = route.find(',', start);
      std::string_view hop = route.substr(
          start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
      if (hop.size() < 2 || hop.front() != '@' || !is_valid_domain(hop.substr(1))) return result;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    inner = inner.substr(colon + 1);
  }
  std::size_t local_len = scan_local_part(inner);
  if (local_len == std::string_view::npos || local_len == 0) return result;
  std::string_view local = inner.substr(0, local_len);
  if (local.size() > kMaxLocalPart) {
    result.error = PathError::kTooLong;
    return result;
  }
  bool local_ok = local.front() == '"' ? is_quoted_string(local) : is_dot_string(local);
  if (!local_ok || !is_valid_utf8(local)) return result;
  if (local_len == inner.size()) {
    // <Postmaster> without a domain (RFC 5321 §4.1.1.3), forward-path only.
    if (!options.allow_postmaster || !is_ascii_case_equal(local, "postmaster")) return result;
    result.mailbox.local_part = std::string(local);
    result.error = PathError::kNone;
    return result;
  }
  if (inner[local_len] != '@') return result;
  std::string_view domain = inner.substr(local_len + 1);
  bool domain_ok = !domain.empty() && domain.front() == '[' ? is_valid_address_literal(domain)
                                                            : is_valid_domain(domain);
  if (!domain_ok) return result;
  result.mailbox.local_part = std::string(local);
  result.mailbox.domain = std::string(domain);
  result.mailbox.non_ascii = has_non_ascii(local) || has_non_ascii(domain);
  result.error = PathError::kNone;
  return result;
}

}  // namespace sealpost::smtp
