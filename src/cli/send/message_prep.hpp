// Message preparation for `sealpost send`: Unix text to canonical CRLF (smtp::to_crlf), the
// headers a submission client adds when missing (Date, Message-ID, From; RFC 5322 §3.6,
// RFC 6409 §8) and sendmail -t (recipients from To/Cc/Bcc, Bcc removed). No I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sealpost::send {

struct PrepareInput {
  std::string_view raw;                  // stdin, read to EOF
  std::vector<std::string> recipients;   // from the command line
  bool recipients_from_headers = false;  // -t
  std::string sender;                    // -f; empty: from the From header, else `fallback`
  std::string fallback_sender;           // the AUTH user if it is an address
  std::string full_name;                 // -F
  std::string domain;                    // for Message-ID when the sender has none
};

struct PreparedMessage {
  bool ok = false;
  int exit_code = 0;  // when !ok
  std::string error;
  std::string reverse_path;
  std::vector<std::string> recipients;
  std::string content;  // CRLF
  // A byte >= 0x80 in the header block: RFC 6532 (UTF-8) headers, which need SMTPUTF8
  // (RFC 6531 §3.1); 8BITMIME covers only the body. ClientSession detects 8-bit content itself.
  bool utf8_headers = false;
};

PreparedMessage prepare_message(const PrepareInput& input);

// RFC 5322 address-list to bare addresses: "A <a@x>, b@y (c), g: c@z;" -> a@x, b@y, c@z.
std::vector<std::string> parse_address_list(std::string_view text);

}  // namespace sealpost::send
