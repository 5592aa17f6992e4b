// Command-line splitting, the MAIL/RCPT keyword prefix and ESMTP parameter syntax.
#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sealpost::smtp {
namespace {

TEST(ParseCommand, AllVerbsCaseInsensitive) {
  struct {
    const char* word;
    Verb verb;
  } cases[] = {{"EHLO", Verb::kEhlo},         {"helo", Verb::kHelo}, {"Mail", Verb::kMail},
               {"rcpt", Verb::kRcpt},         {"DATA", Verb::kData}, {"bdat", Verb::kBdat},
               {"RSET", Verb::kRset},         {"noop", Verb::kNoop}, {"QUIT", Verb::kQuit},
               {"vrfy", Verb::kVrfy},         {"EXPN", Verb::kExpn}, {"help", Verb::kHelp},
               {"StartTLS", Verb::kStartTls}, {"AUTH", Verb::kAuth}};
  for (const auto& c : cases) EXPECT_EQ(parse_command(c.word).verb, c.verb) << c.word;
}

TEST(ParseCommand, Unknown) {
  for (const char* line : {"", " ", "FOO", "MAILX", "MAI", "EHLO\tx", "STARTTLSX", " NOOP"})
    EXPECT_EQ(parse_command(line).verb, Verb::kUnknown) << '"' << line << '"';
}

TEST(ParseCommand, Argument) {
  Command c = parse_command("MAIL FROM:<a@b> SIZE=1");
  EXPECT_EQ(c.verb, Verb::kMail);
  EXPECT_TRUE(c.has_argument);
  EXPECT_EQ(c.argument, "FROM:<a@b> SIZE=1");
  Command bare = parse_command("NOOP");
  EXPECT_FALSE(bare.has_argument);
  EXPECT_EQ(bare.argument, "");
  Command trailing = parse_command("RSET ");
  EXPECT_TRUE(trailing.has_argument);
  EXPECT_EQ(trailing.argument, "");
  EXPECT_EQ(parse_command("HELO  x").argument, " x");
}

TEST(StripKeyword, Basics) {
  std::string_view rest;
  ASSERT_TRUE(strip_keyword("FROM:<a@b>", "FROM:", &rest));
  EXPECT_EQ(rest, "<a@b>");
  ASSERT_TRUE(strip_keyword("from: <a@b> X", "FROM:", &rest));
  EXPECT_EQ(rest, "<a@b> X");
  ASSERT_TRUE(strip_keyword("TO:", "TO:", &rest));
  EXPECT_EQ(rest, "");
  ASSERT_TRUE(strip_keyword("TO:  <x>", "TO:", &rest));
  EXPECT_EQ(rest, " <x>");
  EXPECT_FALSE(strip_keyword("FROM <a@b>", "FROM:", &rest));
  EXPECT_FALSE(strip_keyword("FRO", "FROM:", &rest));
  EXPECT_FALSE(strip_keyword("", "TO:", &rest));
}

std::vector<EsmtpParam> params_of(std::string_view text) {
  std::vector<EsmtpParam> params;
  EXPECT_TRUE(parse_esmtp_params(text, &params)) << text;
  return params;
}

bool rejects(std::string_view text) {
  std::vector<EsmtpParam> params;
  return !parse_esmtp_params(text, &params);
}

TEST(EsmtpParams, Empty) {
  EXPECT_TRUE(params_of("").empty());
  EXPECT_TRUE(params_of("    ").empty());
}

TEST(EsmtpParams, KeywordsUpperCasedValuesKept) {
  auto p = params_of(" size=100  body=8bitMIME SMTPUTF8 X-Y-1=a+b");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].keyword, "SIZE");
  EXPECT_EQ(p[0].value, "100");
  EXPECT_TRUE(p[0].has_value);
  EXPECT_EQ(p[1].keyword, "BODY");
  EXPECT_EQ(p[1].value, "8bitMIME");
  EXPECT_EQ(p[2].keyword, "SMTPUTF8");
  EXPECT_FALSE(p[2].has_value);
  EXPECT_EQ(p[2].value, "");
  EXPECT_EQ(p[3].keyword, "X-Y-1");
  EXPECT_EQ(p[3].value, "a+b");
}

TEST(EsmtpParams, Utf8Values) {
  auto p = params_of("ENVID=\xc3\xa9t\xc3\xa9");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].value, "\xc3\xa9t\xc3\xa9");
  EXPECT_TRUE(rejects("ENVID=\xc3"));
  EXPECT_TRUE(rejects("ENVID=\xff"));
}

TEST(EsmtpParams, SyntaxErrors) {
  EXPECT_TRUE(rejects("=x"));
  EXPECT_TRUE(rejects("SIZE="));
  EXPECT_TRUE(rejects("-X=1"));
  EXPECT_TRUE(rejects("A_B=1"));
  EXPECT_TRUE(rejects("SIZE=1=2"));
  EXPECT_TRUE(rejects("SIZE=a\x01"));
  EXPECT_TRUE(rejects("SIZE=a\x7f"));
  EXPECT_TRUE(rejects("SIZE=\t"));
  EXPECT_TRUE(rejects("\xc3\xa9=1"));
}

TEST(EsmtpParams, DuplicatesRejectedCaseInsensitively) {
  EXPECT_TRUE(rejects("SIZE=1 size=2"));
  EXPECT_TRUE(rejects("SMTPUTF8 SMTPUTF8"));
}

}  // namespace
}  // namespace sealpost::smtp
