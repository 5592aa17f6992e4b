// Command-line splitting and ESMTP parameter syntax. Verbs compare case-insensitively
// (RFC 5321 §2.4); no normalisation of the argument beyond that.
#include "smtp/command.hpp"

#include "smtp/address.hpp"

namespace sealpost::smtp {

namespace {

struct VerbName {
  std::string_view name;
  Verb verb;
};

constexpr VerbName kVerbs[] = {
    {"EHLO", Verb::kEhlo},         {"HELO", Verb::kHelo}, {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt},         {"DATA", Verb::kData}, {"BDAT", Verb::kBdat},
    {"RSET", Verb::kRset},         {"NOOP", Verb::kNoop}, {"QUIT", Verb::kQuit},
    {"VRFY", Verb::kVrfy},         {"EXPN", Verb::kExpn}, {"HELP", Verb::kHelp},
    {"STARTTLS", Verb::kStartTls}, {"AUTH", Verb::kAuth},
};

bool is_keyword_char(unsigned char c, bool first) {
  bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  return alnum || (!first && c == '-');
}

}  // namespace

Command parse_command(std::string_view line) {
  Command cmd;
  std::size_t space = line.find(' ');
  std::string_view word = line.substr(0, space);
  for (const auto& v : kVerbs) {
    if (is_ascii_case_equal(word, v.name)) {
      cmd.verb = v.verb;
      break;
    }
  }
  if (space != std::string_view::npos) {
    cmd.has_argument = true;
    cmd.argument = line.substr(space + 1);
  }
  return cmd;
}

bool strip_keyword(std::string_view argument, std::string_view keyword, std::string_view* rest) {
  if (argument.size() < keyword.size() ||
      !is_ascii_case_equal(argument.substr(0, keyword.size()), keyword))
    return false;
  std::string_view after = argument.substr(keyword.size());
  // RFC 5321 has no space after the colon; tolerating one is what every MTA does.
  if (!after.empty() && after.front() == ' ') after.remove_prefix(1);
  *rest = after;
  return true;
}

bool parse_esmtp_params(std::string_view text, std::vector<EsmtpParam>* params,
                        std::string* duplicate) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    std::size_t end = text.find(' ', i);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(i, end - i);
    i = end;
    std::size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    if (key.empty() || !is_keyword_char(key[0], true)) return false;
    for (unsigned char c : key)
      if (!is_keyword_char(c, false)) return false;
    EsmtpParam p;
    p.keyword = std::string(key);
    for (char& c : p.keyword)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    if (eq != std::string_view::npos) {
      std::string_view value = item.substr(eq + 1);
      // esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 §3.3).
      if (value.empty() || !is_valid_utf8(value)) return false;
      for (unsigned char c : value)
        if (c < 33 || c == '=' || c == 127) return false;
      p.value = std::string(value);
      p.has_value = true;
    }
    for (const auto& existing : *params) {
      if (existing.keyword != p.keyword) continue;
      if (duplicate != nullptr) *duplicate = p.keyword;
      return false;
    }
    params->push_back(std::move(p));
  }
  return true;
}

}  // namespace sealpost::smtp
