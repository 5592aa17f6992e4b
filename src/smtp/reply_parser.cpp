// Reply parsing, one byte at a time so that any cut of the input gives the same replies (and
// byte-by-byte input stays linear). The enhanced code is taken from the first line and removed
// from every line that repeats it (RFC 2034 §4: each line of a multi-line reply carries it).
#include "smtp/reply_parser.hpp"

#include <utility>

namespace sealpost::smtp {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 5321 §4.2: Reply-code = %x32-35 %x30-35 %x30-39.
bool is_reply_code(std::string_view s) {
  return s.size() >= 3 && s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '5' &&
         is_digit(s[2]);
}

// Length of a leading enhanced code followed by a space or the end of the text, else 0.
std::size_t enhanced_prefix(std::string_view text) {
  std::size_t end = text.find(' ');
  std::string_view word = text.substr(0, end);
  return is_enhanced_status_code(word) ? word.size() : 0;
}

void split_enhanced(Reply& reply) {
  if (reply.lines.empty()) return;
  std::size_t n = enhanced_prefix(reply.lines.front());
  // The class must match the reply: "250 5.1.1" is not an enhanced code (RFC 3463 §2).
  if (n == 0 || reply.lines.front()[0] != static_cast<char>('0' + reply.code / 100)) return;
  reply.enhanced = reply.lines.front().substr(0, n);
  for (auto& line : reply.lines) {
    if (line.compare(0, n, reply.enhanced) != 0 || (line.size() > n && line[n] != ' ')) continue;
    line.erase(0, line.size() > n ? n + 1 : n);
  }
}

}  // namespace

std::string_view reply_error_text(ReplyError error) {
  switch (error) {
    case ReplyError::kNone:
      return "no error";
    case ReplyError::kBareCrOrLf:
      return "bare CR or LF in a reply";
    case ReplyError::kLineTooLong:
      return "reply line too long";
    case ReplyError::kReplyTooLong:
      return "reply too long";
    case ReplyError::kSyntax:
      return "malformed reply line";
    case ReplyError::kCodeMismatch:
      return "multi-line reply changes its code";
    case ReplyError::kControlChar:
      return "control character in a reply";
  }
  return "unknown error";
}

bool is_enhanced_status_code(std::string_view text) {
  // RFC 3463 §2: class "." subject "." detail; class = "2" / "4" / "5", subject and detail
  // 1*3digit.
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.')
    return false;
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    if (i == start || i - start > 3) return false;
    if (part == 0) {
      if (i == text.size() || text[i] != '.') return false;
      ++i;
    }
  }
  return i == text.size();
}

void ReplyParser::feed(std::string_view bytes) {
  for (char c : bytes) {
    if (error_ != ReplyError::kNone) return;
    if (prev_cr_) {
      prev_cr_ = false;
      if (c != '\n') return fail(ReplyError::kBareCrOrLf);  // RFC 5321 §2.3.8
      finish_line();
      continue;
    }
    if (c == '\r') {
      prev_cr_ = true;
      continue;
    }
    if (c == '\n') return fail(ReplyError::kBareCrOrLf);
    // RFC 5321 §4.2 textstring = 1*(%d09 / %d32-126); octets >= 128 pass for UTF-8 replies
    // (RFC 6531 §3.7.4). Other control characters could hide text from a log or a terminal.
    auto u = static_cast<unsigned char>(c);
    if ((u < 32 && c != '\t') || u == 127) return fail(ReplyError::kControlChar);
    // Never buffer an endless line: the limit includes the CRLF still to come.
    if (line_.size() + 2 >= kMaxReplyLine) return fail(ReplyError::kLineTooLong);
    line_.push_back(c);
  }
}

void ReplyParser::finish_line() {
  std::string line = std::exchange(line_, {});
  if (!is_reply_code(line) || (line.size() > 3 && line[3] != ' ' && line[3] != '-'))
    return fail(ReplyError::kSyntax);
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (code_ != 0 && code != code_) return fail(ReplyError::kCodeMismatch);
  reply_size_ += line.size() + 2;
  if (reply_size_ > kMaxReplySize) return fail(ReplyError::kReplyTooLong);
  code_ = code;
  bool more = line.size() > 3 && line[3] == '-';
  current_.code = code;
  current_.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
  if (more) return;
  split_enhanced(current_);
  complete_.push_back(std::exchange(current_, {}));
  code_ = 0;
  reply_size_ = 0;
}

std::optional<Reply> ReplyParser::next() {
  if (complete_.empty()) return std::nullopt;
  Reply r = std::move(complete_.front());
  complete_.pop_front();
  return r;
}

bool ReplyParser::idle() const {
  return complete_.empty() && line_.empty() && !prev_cr_ && code_ == 0 &&
         error_ == ReplyError::kNone;
}

}  // namespace sealpost::smtp
