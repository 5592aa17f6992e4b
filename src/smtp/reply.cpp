// Reply formatting. Text is trusted (built by us), but CR/LF are still stripped so that no
// value echoed from a client (an address, a HELO name) can ever forge an extra reply line.
#include "smtp/reply.hpp"

namespace sealpost::smtp {

namespace {

void append_clean(std::string& out, std::string_view text) {
  for (char c : text) out.push_back((c == '\r' || c == '\n') ? ' ' : c);
}

}  // namespace

std::string Reply::format() const {
  std::string out;
  const std::string code_text = std::to_string(code);
  const std::size_t n = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < n; ++i) {
    out += code_text;
    out.push_back(i + 1 < n ? '-' : ' ');
    if (!enhanced.empty()) {
      out += enhanced;
      out.push_back(' ');
    }
    if (!lines.empty()) append_clean(out, lines[i]);
    out += "\r\n";
  }
  return out;
}

std::string Reply::summary() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  if (!lines.empty()) {
    out.push_back(' ');
    append_clean(out, lines.back());
  }
  return out;
}

Reply make_reply(int code, std::string_view enhanced, std::string_view text) {
  return Reply{code, std::string(enhanced), {std::string(text)}};
}

}  // namespace sealpost::smtp
