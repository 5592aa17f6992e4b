// xtext (RFC 3461 §4) and RFC 6533 §3 utf-8-addr-xtext/unitext. Everything here is pure.
#include "smtp/xtext.hpp"

#include <cstdint>

#include "smtp/address.hpp"

namespace sealpost::smtp {

namespace {

constexpr char kHex[] = "0123456789ABCDEF";

// RFC 3461 §4: "two upper case hexadecimal digits".
int upper_hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 6533's HEXPOINT uses ABNF HEXDIG, which is case-insensitive (RFC 5234 §2.3).
int any_hex_value(char c) {
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return upper_hex_value(c);
}

// RFC 6533 QCHAR: printable ASCII that needs no escape (not '+', '=', '\\').
bool is_qchar(unsigned char c) {
  return c >= 0x21 && c <= 0x7E && c != '+' && c != '=' && c != '\\';
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes one code point of valid UTF-8 at s[i], advancing i.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  auto c = static_cast<unsigned char>(s[i++]);
  if (c < 0x80) return c;
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
  std::uint32_t cp = c & (0x3F >> extra);
  for (int k = 0; k < extra && i < s.size(); ++k)
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3F);
  return cp;
}

// RFC 6533 HEXPOINT: the only spelling allowed for `cp`: two digits for the ASCII a QCHAR
// cannot carry and for 0x80..0xFF, else the shortest form (no leading zero).
bool canonical_hexpoint(std::uint32_t cp, std::size_t digits, bool leading_zero) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  if (cp < 0x100) return digits == 2 && !is_qchar(static_cast<unsigned char>(cp));
  return !leading_zero;
}

}  // namespace

std::optional<std::string> xtext_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      if (text.size() - i < 3) return std::nullopt;
      int hi = upper_hex_value(text[i + 1]), lo = upper_hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;  // xchar: "!".."~" except "+" and "="
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string xtext_encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c >= 33 && c <= 126 && c != '+' && c != '=') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('+');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::optional<std::string> utf8_addr_decode(std::string_view text) {
  if (!is_valid_utf8(text)) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {  // raw UTF-8 (QUCHAR), already validated: copy the sequence
      std::size_t start = i;
      next_code_point(text, i);
      out.append(text.substr(start, i - start));
      --i;
      continue;
    }
    if (is_qchar(c)) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    // EmbeddedUnicodeChar = "\x{" HEXPOINT "}", 2 to 6 hex digits.
    if (c != '\\' || text.substr(i, 3) != "\\x{") return std::nullopt;
    std::size_t close = text.find('}', i + 3);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view hex = text.substr(i + 3, close - i - 3);
    if (hex.size() < 2 || hex.size() > 6) return std::nullopt;
    std::uint32_t cp = 0;
    for (char h : hex) {
      int v = any_hex_value(h);
      if (v < 0) return std::nullopt;
      cp = cp * 16 + static_cast<std::uint32_t>(v);
    }
    if (!canonical_hexpoint(cp, hex.size(), hex.front() == '0')) return std::nullopt;
    append_utf8(out, cp);
    i = close;
  }
  return out;
}

std::string utf8_addr_encode(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    auto c = static_cast<unsigned char>(utf8[i]);
    if (c < 0x80 && is_qchar(c)) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    std::uint32_t cp = next_code_point(utf8, i);
    std::string hex;
    for (std::uint32_t v = cp; v != 0 || hex.size() < 2; v >>= 4)
      hex.insert(hex.begin(), kHex[v & 0xF]);
    out += "\\x{" + hex + "}";
  }
  return out;
}

bool is_printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

}  // namespace sealpost::smtp
