// Message preparation: header block split at the first empty line, header names compared
// case-insensitively, folded lines kept with their field. Added fields go at the end of the
// header block so the user's own text stays byte-exact.
#include "cli/send/message_prep.hpp"

#include <openssl/rand.h>

#include <cctype>
#include <ctime>

#include "smtp/dot_stuffer.hpp"

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
      if (colon == std::string_view::npos || colon == 0) break;
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

}  // namespace

std::vector<std::string> parse_address_list(std::string_view text) {
  std::vector<std::string> out;
  std::string current, angle;
  bool in_angle = false, have_angle = false;
  int comment = 0;
  bool quoted = false;
  auto flush = [&] {
    std::string addr = have_angle ? trim(angle) : trim(current);
    if (!addr.empty()) out.push_back(addr);
    current.clear();
    angle.clear();
    have_angle = in_angle = false;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
      if (in_angle) angle += c;
      continue;
    }
    if (comment > 0) {
      if (c == '\\') ++i;
      if (c == '(') ++comment;
      if (c == ')') --comment;
      continue;
    }
    switch (c) {
      case '"':
        quoted = true;
        if (in_angle) angle += c;
        break;
      case '(':
        comment = 1;
        break;
      case '<':
        in_angle = have_angle = true;
        angle.clear();
        break;
      case '>':
        in_angle = false;
        break;
      case ':':  // group display name (RFC 5322 §3.4): drop it
        if (!in_angle) {
          current.clear();
        } else {
          angle += c;  // source route part; rare
        }
        break;
      case ',':
      case ';':
        if (!in_angle) {
          flush();
        } else {
          angle += c;
        }
        break;
      case '\r':
      case '\n':
        break;
      default:
        if (in_angle) {
          angle += c;
        } else if (c != ' ' && c != '\t') {
          current += c;
        }
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
    added += in.full_name.empty() ? "From: " + m.reverse_path + "\r\n"
                                  : "From: " + in.full_name + " <" + m.reverse_path + ">\r\n";
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
  m.ok = true;
  return m;
}

}  // namespace sealpost::send
