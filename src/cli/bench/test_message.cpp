// Body lines are "sealpost bench" filler; a final short line keeps the size exact.
#include "cli/bench/test_message.hpp"

namespace sealpost::bench {

std::string build_message(const std::string& from, const std::string& to, std::size_t body_size) {
  std::string m;
  m.reserve(body_size + 256);
  m += "From: <" + from + ">\r\n";
  m += "To: <" + to + ">\r\n";
  m += "Subject: sealpost bench\r\n";
  m += "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n";
  m += "Message-ID: <bench@sealpost.invalid>\r\n";
  m += "\r\n";
  constexpr std::string_view kFill =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 sealpost bench filler";
  constexpr std::size_t kLine = 78;  // RFC 5322 §2.1.1: SHOULD be no more than 78 + CRLF
  static_assert(kFill.size() >= kLine);
  // Every line ends in CRLF, so a body is never 1 octet: 1 becomes 2 (one empty line).
  std::size_t left = body_size == 1 ? 2 : body_size;
  while (left > 0) {
    std::size_t text = left <= kLine + 2 ? left - 2 : kLine;
    if (left > kLine + 2 && left - (kLine + 2) == 1) --text;  // never leave 1 octet over
    m.append(kFill.substr(0, text));
    m += "\r\n";
    left -= text + 2;
  }
  return m;
}

std::string build_data(const std::string& from, const std::string& to, std::size_t body_size) {
  return build_message(from, to, body_size) + ".\r\n";
}

}  // namespace sealpost::bench
