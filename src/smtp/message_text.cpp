#include "smtp/message_text.hpp"

#include <algorithm>

namespace sealpost::smtp {

bool has_8bit(std::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::string_view header_section(std::string_view content) {
  if (content.starts_with("\r\n")) return content.substr(0, 2);
  std::size_t end = content.find("\r\n\r\n");
  return end == std::string_view::npos ? content : content.substr(0, end + 4);
}

}  // namespace sealpost::smtp
