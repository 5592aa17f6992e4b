// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463). The enhanced
// code goes on every 2xx/4xx/5xx reply except the greeting and the EHLO/HELO reply, and never
// on 3xx intermediates (RFC 2034 §3).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sealpost::smtp {

struct Reply {
  int code = 0;
  std::string enhanced;            // "2.1.0"; empty for greeting, EHLO, 354
  std::vector<std::string> lines;  // one per reply line; text must not contain CR or LF

  bool positive() const { return code >= 200 && code < 400; }
  bool transient() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }

  // Wire form: "250-first\r\n250 last\r\n", enhanced code prefixed to each line.
  std::string format() const;
  // One line for logs: "550 5.1.1 text".
  std::string summary() const;
};

Reply make_reply(int code, std::string_view enhanced, std::string_view text);

}  // namespace sealpost::smtp
