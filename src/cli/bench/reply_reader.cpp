// Reply framing: lines end in CRLF (a lone LF is tolerated from a server: we read, not judge).
#include "cli/bench/reply_reader.hpp"

#include <cctype>

namespace sealpost::bench {

namespace {

bool digits3(std::string_view line) {
  return line.size() >= 3 && std::isdigit(static_cast<unsigned char>(line[0])) &&
         std::isdigit(static_cast<unsigned char>(line[1])) &&
         std::isdigit(static_cast<unsigned char>(line[2]));
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace

std::optional<ServerReply> ReplyReader::next() {
  if (!error_.empty()) return std::nullopt;
  ServerReply reply;
  std::size_t pos = consumed_;
  for (;;) {
    auto lf = buffer_.find('\n', pos);
    if (lf == std::string::npos) {
      if (buffer_.size() - pos > kMaxLine) error_ = "reply line too long";
      return std::nullopt;
    }
    std::string_view line(buffer_.data() + pos, lf - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLine) {
      error_ = "reply line too long";
      return std::nullopt;
    }
    if (!digits3(line) || (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
      error_ = "malformed reply line: " + std::string(line.substr(0, 80));
      return std::nullopt;
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!reply.lines.empty() && code != reply.code) {
      error_ = "reply code changed inside a multi-line reply";
      return std::nullopt;
    }
    reply.code = code;
    reply.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
    pos = lf + 1;
    if (line.size() == 3 || line[3] == ' ') break;
  }
  consumed_ = pos;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  } else if (consumed_ > 65536) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  return reply;
}

std::optional<std::string> extension_params(const ServerReply& ehlo, std::string_view keyword) {
  // The first line is the greeting ("mail.test Hello ..."); keywords follow (RFC 5321 §4.1.1.1).
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string_view line = ehlo.lines[i];
    auto space = line.find(' ');
    std::string_view word = line.substr(0, space);
    if (iequal(word, keyword))
      return space == std::string_view::npos ? std::string{} : std::string(line.substr(space + 1));
  }
  return std::nullopt;
}

bool has_extension(const ServerReply& ehlo, std::string_view keyword) {
  return extension_params(ehlo, keyword).has_value();
}

}  // namespace sealpost::bench
