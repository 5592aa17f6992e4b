// Parses server replies for the SMTP client (RFC 5321 §4.2): multi-line replies with one code,
// and the enhanced status code of RFC 2034 / RFC 3463 split off the text. Strict, because a
// reply we misread is a command we misjudge: CRLF only, one code per reply, bounded lines and
// replies, no control characters. What a reply means is ClientSession's business, not this.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/reply.hpp"

namespace sealpost::smtp {

enum class ReplyError {
  kNone,
  kBareCrOrLf,    // a CR or LF not part of CRLF (RFC 5321 §2.3.8)
  kLineTooLong,   // over kMaxReplyLine octets including CRLF
  kReplyTooLong,  // all lines of one reply over kMaxReplySize octets
  kSyntax,        // not "DDD", "DDD text" or "DDD-text" with a valid reply code
  kCodeMismatch,  // a continuation line with another code (RFC 5321 §4.2.1)
  kControlChar,   // a control character other than HT in the text
};

std::string_view reply_error_text(ReplyError error);

// RFC 5321 §4.5.3.1.5 allows 512 octets; real servers send longer lines (long greetings,
// verbose 5xx texts), so we allow four times that and no more.
constexpr std::size_t kMaxReplyLine = 2048;
// An EHLO reply with every extension ever registered fits easily; bounds memory per reply.
constexpr std::size_t kMaxReplySize = 64 * 1024;

// Valid RFC 3463 status code "class.subject.detail" (class 2, 4 or 5; 1-3 digits each).
bool is_enhanced_status_code(std::string_view text);

// Bytes in, complete replies out. After an error, further input is ignored; replies completed
// before the error are still returned by next() first, so a session acts on input in order
// however it was cut.
class ReplyParser {
 public:
  void feed(std::string_view bytes);
  std::optional<Reply> next();  // the oldest complete reply, if any
  ReplyError error() const { return error_; }
  // True when nothing is buffered: no complete reply waiting, no partial line, no error. The
  // client checks this at every point where the server must be silent (after a reply to
  // STARTTLS, before a new command group): bytes there were sent before our command.
  bool idle() const;

 private:
  void fail(ReplyError e) { error_ = e; }
  void finish_line();

  std::string line_;  // current line without CRLF
  bool prev_cr_ = false;
  int code_ = 0;  // code of the reply being read; 0 between replies
  Reply current_;
  std::size_t reply_size_ = 0;
  std::deque<Reply> complete_;
  ReplyError error_ = ReplyError::kNone;
};

}  // namespace sealpost::smtp
