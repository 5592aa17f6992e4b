// Dot-stuffing and line-end canonicalisation for the client (the server's inverse is
// data_reader.cpp's DotReader).
#include "smtp/dot_stuffer.hpp"

namespace sealpost::smtp {

bool is_crlf_text(std::string_view content) {
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (content[i] == '\r') {
      if (i + 1 == content.size() || content[i + 1] != '\n') return false;
      ++i;
    } else if (content[i] == '\n') {
      return false;
    }
  }
  return true;
}

std::optional<std::string> to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32 + 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\r') {
      if (i + 1 == text.size() || text[i + 1] != '\n') return std::nullopt;
      continue;  // the LF that follows writes the CRLF
    }
    if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

std::string dot_stuff(std::string_view content) {
  std::string out;
  out.reserve(content.size() + content.size() / 64 + 3);
  bool line_start = true;
  for (char c : content) {
    if (line_start && c == '.') out.push_back('.');  // RFC 5321 §4.5.2
    out.push_back(c);
    line_start = c == '\n';
  }
  out += ".\r\n";
  return out;
}

}  // namespace sealpost::smtp
