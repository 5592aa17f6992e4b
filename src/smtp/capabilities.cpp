// EHLO keyword parsing. Keywords are case-insensitive (RFC 5321 §2.4); "AUTH=" is the form some
// old servers send besides "AUTH" (pre-RFC 2554 clients), and both are read.
#include "smtp/capabilities.hpp"

#include <algorithm>
#include <charconv>
#include <string_view>

namespace sealpost::smtp {

namespace {

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

void add_mechanisms(std::string_view params, std::vector<std::string>& out) {
  while (!params.empty()) {
    std::size_t start = params.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    params.remove_prefix(start);
    std::size_t end = params.find(' ');
    std::string name = ascii_upper(params.substr(0, end));
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    if (end == std::string_view::npos) break;
    params.remove_prefix(end);
  }
}

}  // namespace

Capabilities parse_capabilities(const Reply& reply) {
  Capabilities caps;
  caps.esmtp = true;
  for (std::size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view line = reply.lines[i];
    std::size_t end = line.find_first_of(" =");
    std::string keyword = ascii_upper(line.substr(0, end));
    std::string_view params = end == std::string_view::npos ? "" : line.substr(end + 1);
    if (keyword == "SIZE") {
      caps.size = true;
      std::uint64_t limit = 0;
      auto [ptr, ec] = std::from_chars(params.data(), params.data() + params.size(), limit);
      // A garbled or overflowing number announces the extension without a known limit.
      if (ec == std::errc() && ptr == params.data() + params.size()) caps.size_limit = limit;
    } else if (keyword == "PIPELINING") {
      caps.pipelining = true;
    } else if (keyword == "8BITMIME") {
      caps.eight_bit_mime = true;
    } else if (keyword == "SMTPUTF8") {
      caps.smtputf8 = true;
    } else if (keyword == "CHUNKING") {
      caps.chunking = true;
    } else if (keyword == "STARTTLS") {
      caps.starttls = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      caps.enhanced_status_codes = true;
    } else if (keyword == "DSN") {
      caps.dsn = true;
    } else if (keyword == "REQUIRETLS") {
      caps.requiretls = true;
    } else if (keyword == "AUTH") {
      add_mechanisms(params, caps.auth_mechanisms);
    }
  }
  return caps;
}

}  // namespace sealpost::smtp
