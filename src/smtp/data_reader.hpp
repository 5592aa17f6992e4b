// Message content readers: DotReader frames DATA (RFC 5321 §4.1.1.4: only CRLF "." CRLF ends
// it) and removes dot-stuffing (§4.5.2); ContentChecker enforces what RFC 5321 §2.3.8 and
// RFC 5322 §2.1.1 say of the content itself — CRLF only, lines of at most 998 octets — and the
// size limit. A violation never ends the data early: the reader drains to the real end and
// the session replies once (SMTP smuggling defence, CVE-2023-51764 class).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sealpost::smtp {

enum class ContentError { kNone, kBareCrOrLf, kLineTooLong, kTooBig };

class ContentChecker {
 public:
  ContentChecker(std::string* body, std::size_t max_size) : body_(body), max_size_(max_size) {}
  // Checks and appends. After an error nothing more is appended (input is still consumed).
  void append(std::string_view bytes);
  // End of content: a trailing lone CR is an error too.
  void finish();
  ContentError error() const { return error_; }
  std::size_t size() const { return size_; }  // octets seen, appended or not

 private:
  void fail(ContentError e);

  std::string* body_;
  std::size_t max_size_;
  std::size_t size_ = 0;
  std::size_t line_length_ = 0;
  bool prev_cr_ = false;
  ContentError error_ = ContentError::kNone;
};

class DotReader {
 public:
  explicit DotReader(ContentChecker* sink) : sink_(sink) {}
  // Consumes bytes until the end-of-data line; returns how many were consumed. done() is
  // true once CRLF "." CRLF has been seen (the terminator itself is not content).
  std::size_t feed(std::string_view bytes);
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kLineStart, kInLine, kCr, kDot, kDotCr, kDone };
  ContentChecker* sink_;
  State state_ = State::kLineStart;
};

}  // namespace sealpost::smtp
