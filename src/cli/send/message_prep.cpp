// Message preparation: header block split at the first empty line, header names compared
// case-insensitively, folded lines kept with their field. Added fields go at the end of the
// header block so the user's own text stays byte-exact.
#include "cli/send/message_prep.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <unordered_set>

#include "sasl/base64.hpp"
#include "smtp/dot_stuffer.hpp"
#include "smtp/message_text.hpp"

namespace sealpost::send {

namespace {

struct Field {
  std::string name;   // lower case
  std::string value;  // unfolded (CRLF removed), without the name and colon
  std::size_t begin;  // byte range in the header block, including the final CRLF
  std::size_t end;
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

// RFC 5322 §3.6.8: field-name = 1*ftext (printable US-ASCII but ':'); obs-optional (§4.5.8)
// allows white space before the colon. "Hi Bob: ..." is prose, not a field: a receiver such as
// Postfix starts the body there, and any field added after it would become body text.
bool is_field_name(std::string_view name) {
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  if (name.empty()) return false;
  for (char c : name)
    if (c < 33 || c > 126) return false;
  return true;
}

// Fields of `header` (CRLF lines, each ending in CRLF). A line that is neither a field nor a
// continuation ends the header block there (it is then body text).
std::vector<Field> parse_fields(std::string_view header) {
  std::vector<Field> fields;
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t eol = header.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    std::string_view line = header.substr(pos, eol - pos);
    if ((line.front() == ' ' || line.front() == '\t') && !fields.empty()) {
      fields.back().value += std::string(line);
      fields.back().end = eol + 2;
    } else {
      auto colon = line.find(':');
      if (colon == std::string_view::npos || !is_field_name(line.substr(0, colon))) break;
      fields.push_back(
          {lower(trim(line.substr(0, colon))), std::string(line.substr(colon + 1)), pos, eol + 2});
    }
    pos = eol + 2;
  }
  return fields;
}

std::string rfc5322_date() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S %z", &tm);
  return buf;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()));
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// -F as a display name (RFC 5322 §3.4): an atom sequence as is, a quoted-string when it holds
// specials ("Doe, John" must not become two addresses), RFC 2047 encoded-words ("B", UTF-8,
// at most 75 characters each, folded) when it is not ASCII, so the header stays 7-bit.
std::string display_name(std::string_view name) {
  bool ascii = true, special = false;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) ascii = false;
    if (std::string_view("()<>[]:;@\\,.\"").find(c) != std::string_view::npos) special = true;
  }
  if (ascii && !special) return std::string(name);
  if (ascii) {
    std::string out = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    return out + "\"";
  }
  std::string out;
  std::size_t pos = 0;
  while (pos < name.size()) {
    // 45 octets -> 60 base64 characters + 12 for "=?UTF-8?B??=": under 75 (RFC 2047 §2),
    // cut before a UTF-8 continuation byte so no character is split across words (§5).
    std::size_t n = std::min<std::size_t>(45, name.size() - pos);
    while (n > 1 && pos + n < name.size() &&
           (static_cast<unsigned char>(name[pos + n]) & 0xC0) == 0x80)
      --n;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + sasl::base64_encode(name.substr(pos, n)) + "?=";
    pos += n;
  }
  return out;
}

}  // namespace

std::vector<std::string> parse_address_list(std::string_view text) {
  std::vector<std::string> out;
  std::string current, angle;  // the text outside and inside <...>
  bool in_angle = false, have_angle = false;
  auto add = [&](char c) { (in_angle ? angle : current) += c; };
  auto flush = [&] {
    std::string addr = have_angle ? angle : current;
    if (!addr.empty()) out.push_back(addr);
    current.clear();
    angle.clear();
    have_angle = in_angle = false;
  };
  // A quoted-string (RFC 5322 §3.2.4) or domain literal (§3.4.1), verbatim with its escapes:
  // a quoted local part ("john doe"@x) is part of the address, and "[IPv6:::1]" holds colons
  // that start no group.
  auto copy_until = [&](std::size_t& i, char close) {
    add(text[i]);
    for (++i; i < text.size(); ++i) {
      add(text[i]);
      if (text[i] == '\\' && i + 1 < text.size()) {
        add(text[++i]);
      } else if (text[i] == close) {
        return;
      }
    }
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    switch (c) {
      case '"':
        copy_until(i, '"');
        break;
      case '[':
        copy_until(i, ']');
        break;
      case '(': {  // comment, possibly nested (§3.2.2): dropped
        int depth = 1;
        while (depth > 0 && ++i < text.size()) {
          if (text[i] == '\\') {
            ++i;
          } else if (text[i] == '(') {
            ++depth;
          } else if (text[i] == ')') {
            --depth;
          }
        }
        break;
      }
      case '<':
        in_angle = have_angle = true;
        angle.clear();
        break;
      case '>':
        in_angle = false;
        break;
      case ':':  // outside <>: a group's display name (§3.4), dropped; inside: a source route
        if (in_angle) {
          angle += c;
        } else {
          current.clear();
        }
        break;
      case ',':
      case ';':
        if (in_angle) {
          angle += c;
        } else {
          flush();
        }
        break;
      case ' ':
      case '\t':
      case '\r':
      case '\n':  // folding white space around the parts of an address
        break;
      default:
        add(c);
    }
  }
  flush();
  return out;
}

PreparedMessage prepare_message(const PrepareInput& in) {
  PreparedMessage m;
  auto fail = [&](int code, std::string error) {
    m.ok = false;
    m.exit_code = code;
    m.error = std::move(error);
    return m;
  };
  auto crlf = smtp::to_crlf(in.raw);
  // A bare CR has no knowable meaning and is the stuff of SMTP smuggling (RFC 5321 §2.3.8).
  if (!crlf) return fail(65, "the message contains a bare CR");
  std::string text = std::move(*crlf);

  // The header block: up to the first empty line (or all of it if there is none).
  std::size_t header_end;
  if (text.rfind("\r\n", 0) == 0) {
    header_end = 0;
  } else if (auto blank = text.find("\r\n\r\n"); blank != std::string::npos) {
    header_end = blank + 2;
  } else {
    header_end = text.size();
  }
  std::vector<Field> fields = parse_fields(std::string_view(text).substr(0, header_end));
  // A line that is no field ends the header block early: new fields go before it.
  header_end = fields.empty() ? 0 : fields.back().end;
  auto has = [&](std::string_view name) {
    for (const auto& f : fields)
      if (f.name == name) return true;
    return false;
  };

  // The name goes into a header: a line break there would start a field of its own.
  if (in.full_name.find_first_of("\r\n") != std::string::npos)
    return fail(64, "-F: the full name contains a line break");

  m.recipients = in.recipients;
  std::vector<std::pair<std::size_t, std::size_t>> remove;  // Bcc byte ranges
  if (in.recipients_from_headers) {
    for (const auto& f : fields) {
      if (f.name == "to" || f.name == "cc" || f.name == "bcc") {
        for (auto& a : parse_address_list(f.value)) m.recipients.push_back(std::move(a));
      }
      // Bcc recipients must not learn of each other or be seen by To/Cc (RFC 5322 §3.6.3).
      if (f.name == "bcc") remove.emplace_back(f.begin, f.end);
    }
  }
  // One RCPT per address, as sendmail: To and Cc (or the command line) may name it twice.
  std::vector<std::string> unique;
  std::unordered_set<std::string> seen;
  for (auto& r : m.recipients)
    if (seen.insert(r).second) unique.push_back(std::move(r));
  m.recipients = std::move(unique);
  if (m.recipients.empty()) return fail(64, "no recipients (give addresses or -t)");

  m.reverse_path = in.sender;
  if (m.reverse_path.empty()) {
    for (const auto& f : fields) {
      if (f.name == "from") {
        auto from = parse_address_list(f.value);
        if (!from.empty()) m.reverse_path = from.front();
        break;
      }
    }
  }
  if (m.reverse_path.empty()) m.reverse_path = in.fallback_sender;
  if (m.reverse_path.empty())
    return fail(64, "no sender: give -f ADDRESS, a From header or an address as --user");

  std::string added;
  if (!has("from")) {
    added += in.full_name.empty()
                 ? "From: " + m.reverse_path + "\r\n"
                 : "From: " + display_name(in.full_name) + " <" + m.reverse_path + ">\r\n";
  }
  if (!has("date")) added += "Date: " + rfc5322_date() + "\r\n";
  if (!has("message-id")) {
    auto at = m.reverse_path.rfind('@');
    std::string domain = at != std::string::npos ? m.reverse_path.substr(at + 1) : in.domain;
    if (domain.empty()) domain = "localhost";
    added += "Message-ID: <" + random_hex(16) + "@" + domain + ">\r\n";
  }

  std::string header;
  std::size_t pos = 0;
  for (auto [b, e] : remove) {
    header.append(text, pos, b - pos);
    pos = e;
  }
  header.append(text, pos, header_end - pos);
  header += added;
  std::string body = text.substr(header_end);
  // A header block cut short by a line that is no field (or absent) still needs the empty
  // line that separates it from the body (RFC 5322 §2.1).
  if (body.rfind("\r\n", 0) != 0) body = "\r\n" + body;
  m.content = header + body;
  m.utf8_headers = smtp::has_8bit(header);
  m.ok = true;
  return m;
}

}  // namespace sealpost::send
