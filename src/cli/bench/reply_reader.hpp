// SMTP replies from the server's byte stream, for the load generator (RFC 5321 §4.2): feed
// bytes, take complete replies. A reply is one or more lines "ddd-text" ending with "ddd text"
// (or a bare "ddd"); all lines must carry the same code. Sans-I/O: no socket here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::bench {

struct ServerReply {
  int code = 0;
  std::vector<std::string> lines;  // text after "ddd-" / "ddd ", without CRLF
};

class ReplyReader {
 public:
  // A server line longer than this is a protocol error (RFC 5321 §4.5.3.1.5 says 512).
  static constexpr std::size_t kMaxLine = 4096;

  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete reply, if one is buffered. Sets error() on a malformed line; after
  // that, nothing more is returned.
  std::optional<ServerReply> next();
  const std::string& error() const { return error_; }
  // Bytes buffered that are not yet a complete reply (a STARTTLS client checks there are none).
  bool empty() const { return buffer_.size() == consumed_; }

 private:
  std::string buffer_;
  std::size_t consumed_ = 0;  // start of the first line not yet returned
  std::string error_;
};

// EHLO keyword present (case-insensitive), e.g. has_extension(r, "PIPELINING").
bool has_extension(const ServerReply& ehlo, std::string_view keyword);
// The parameters of an EHLO keyword, e.g. "PLAIN LOGIN" for AUTH; nothing if absent.
std::optional<std::string> extension_params(const ServerReply& ehlo, std::string_view keyword);

}  // namespace sealpost::bench
