// Splits an SMTP command line (CRLF already removed) into verb and argument, and parses
// ESMTP parameters (RFC 5321 §4.1.2 esmtp-param, RFC 6531 §3.3 UTF-8 values). Semantics —
// which verb is allowed when — belong to ServerSession, not here.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sealpost::smtp {

enum class Verb {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
  kUnknown
};

struct Command {
  Verb verb = Verb::kUnknown;
  std::string_view argument;  // text after the verb and one space; may be empty
  bool has_argument = false;  // a space followed the verb
};

Command parse_command(std::string_view line);

// "MAIL FROM:" / "RCPT TO:" prefix: returns the text after the colon (one optional space
// allowed after it, as sent by many clients), or false if the keyword is missing.
bool strip_keyword(std::string_view argument, std::string_view keyword, std::string_view* rest);

struct EsmtpParam {
  std::string keyword;  // upper-cased
  std::string value;    // empty if none given
  bool has_value = false;
};

// Parses " KEY=VALUE KEY2" (leading spaces allowed). False on syntax error or duplicates; for
// a duplicate, `*duplicate` (if given) names the keyword (upper-cased).
bool parse_esmtp_params(std::string_view text, std::vector<EsmtpParam>* params,
                        std::string* duplicate = nullptr);

}  // namespace sealpost::smtp
