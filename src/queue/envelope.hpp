// The envelope of a queued message (RFC 5321 §2.3.1): reverse-path, forward-paths and the
// MAIL parameters that delivery must honour. Plain data, shared by spool and delivery.
#pragma once

#include <string>
#include <vector>

namespace sealpost::queue {

struct Envelope {
  std::string reverse_path;             // without angle brackets; empty = null path <>
  std::vector<std::string> recipients;  // forward-paths, without angle brackets
  bool smtputf8 = false;                // RFC 6531 SMTPUTF8 given on MAIL
  bool body_8bit = false;               // BODY=8BITMIME
};

}  // namespace sealpost::queue
