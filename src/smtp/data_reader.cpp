// DATA framing and content checks. The reader hands the checker exactly the bytes that will
// be stored, so a bare CR or LF is judged on the content, and the terminator on the wire.
#include "smtp/data_reader.hpp"

namespace sealpost::smtp {

namespace {
constexpr std::size_t kMaxTextLine = 998;  // RFC 5321 §4.5.3.1.6: 1000 including CRLF
}

void ContentChecker::fail(ContentError e) {
  // Keep the most serious error: smuggling-relevant framing beats size beats line length.
  if (error_ == ContentError::kNone || e == ContentError::kBareCrOrLf ||
      (e == ContentError::kTooBig && error_ == ContentError::kLineTooLong))
    error_ = e;
}

void ContentChecker::append(std::string_view bytes) {
  size_ += bytes.size();
  for (char c : bytes) {
    if (prev_cr_) {
      prev_cr_ = false;
      if (c == '\n') {
        line_length_ = 0;
        continue;
      }
      fail(ContentError::kBareCrOrLf);  // lone CR (RFC 5321 §2.3.8)
    }
    if (c == '\r') {
      prev_cr_ = true;
    } else if (c == '\n') {
      fail(ContentError::kBareCrOrLf);  // lone LF (RFC 5321 §2.3.8)
    } else if (++line_length_ > kMaxTextLine) {
      fail(ContentError::kLineTooLong);
    }
  }
  if (size_ > max_size_) fail(ContentError::kTooBig);
  if (error_ == ContentError::kNone) {
    body_->append(bytes);
  } else if (!body_->empty()) {
    // Nothing of a failed message is kept, so memory stays bounded while we drain.
    body_->clear();
    body_->shrink_to_fit();
  }
}

void ContentChecker::finish() {
  if (prev_cr_) fail(ContentError::kBareCrOrLf);
  prev_cr_ = false;
}

std::size_t DotReader::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::kDone) {
    char c = bytes[i];
    switch (state_) {
      case State::kLineStart:
        if (c == '.') {
          state_ = State::kDot;
          ++i;
        } else {
          state_ = State::kInLine;
        }
        break;
      case State::kInLine: {
        // Copy the run up to the next CR in one go; a bare LF inside it is the checker's job.
        std::size_t cr = bytes.find('\r', i);
        std::size_t end = cr == std::string_view::npos ? bytes.size() : cr;
        if (end > i) sink_->append(bytes.substr(i, end - i));
        i = end;
        if (cr != std::string_view::npos) {
          state_ = State::kCr;
          ++i;
        }
        break;
      }
      case State::kCr:
        if (c == '\n') {
          sink_->append("\r\n");
          state_ = State::kLineStart;
          ++i;
        } else {
          sink_->append("\r");  // lone CR: content, flagged by the checker; not a line end
          state_ = State::kInLine;
        }
        break;
      case State::kDot:
        if (c == '\r') {
          state_ = State::kDotCr;
          ++i;
        } else {
          state_ = State::kInLine;  // dot-stuffed line: the leading dot is dropped (§4.5.2)
        }
        break;
      case State::kDotCr:
        if (c == '\n') {
          state_ = State::kDone;
          sink_->finish();
          ++i;
        } else {
          sink_->append("\r");  // "." CR x: lone CR, not the terminator
          state_ = State::kInLine;
        }
        break;
      case State::kDone:
        break;
    }
  }
  return i;
}

}  // namespace sealpost::smtp
