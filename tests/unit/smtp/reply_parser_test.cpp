// ReplyParser (RFC 5321 §4.2 replies, RFC 2034 enhanced codes) and EHLO capability parsing.
#include "smtp/reply_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smtp/capabilities.hpp"

namespace sealpost::smtp {
namespace {

std::vector<Reply> parse_all(std::string_view bytes, ReplyError* error = nullptr) {
  ReplyParser p;
  p.feed(bytes);
  std::vector<Reply> out;
  while (auto r = p.next()) out.push_back(*r);
  if (error) *error = p.error();
  return out;
}

ReplyError error_of(std::string_view bytes) {
  ReplyError e;
  parse_all(bytes, &e);
  return e;
}

TEST(ReplyParser, SingleLine) {
  auto r = parse_all("220 mx.test ESMTP ready\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 220);
  EXPECT_EQ(r[0].enhanced, "");
  EXPECT_EQ(r[0].lines, std::vector<std::string>{"mx.test ESMTP ready"});
}

TEST(ReplyParser, MultiLineKeepsEveryLine) {
  auto r = parse_all("250-mx.test\r\n250-PIPELINING\r\n250 SIZE 100\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].lines, (std::vector<std::string>{"mx.test", "PIPELINING", "SIZE 100"}));
}

TEST(ReplyParser, CodeAloneAndEmptyContinuation) {
  auto r = parse_all("250\r\n354-\r\n354 go\r\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, 250);
  EXPECT_EQ(r[0].lines, std::vector<std::string>{""});
  EXPECT_EQ(r[1].lines, (std::vector<std::string>{"", "go"}));
}

TEST(ReplyParser, EnhancedCodeIsSplitOffEveryLine) {
  auto r = parse_all("550-5.1.1 first\r\n550 5.1.1 second\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].enhanced, "5.1.1");
  EXPECT_EQ(r[0].lines, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(r[0].summary(), "550 5.1.1 second");
  auto alone = parse_all("250 2.0.0\r\n");
  EXPECT_EQ(alone[0].enhanced, "2.0.0");
  EXPECT_EQ(alone[0].lines, std::vector<std::string>{""});
}

TEST(ReplyParser, EnhancedCodeMustMatchTheReplyClass) {
  auto r = parse_all("250 5.1.1 odd\r\n");
  EXPECT_EQ(r[0].enhanced, "");
  EXPECT_EQ(r[0].lines[0], "5.1.1 odd");
  // Neither a 3xx nor a host name that starts like a code.
  EXPECT_EQ(parse_all("354 3.0.0 go\r\n")[0].enhanced, "");
  EXPECT_EQ(parse_all("220 2.0.0.example.org ready\r\n")[0].enhanced, "");
  EXPECT_EQ(parse_all("451 4.3.0x busy\r\n")[0].enhanced, "");
}

TEST(ReplyParser, EnhancedCodeSyntax) {
  EXPECT_TRUE(is_enhanced_status_code("2.0.0"));
  EXPECT_TRUE(is_enhanced_status_code("5.7.30"));
  EXPECT_TRUE(is_enhanced_status_code("4.123.456"));
  EXPECT_FALSE(is_enhanced_status_code("3.0.0"));
  EXPECT_FALSE(is_enhanced_status_code("2.0"));
  EXPECT_FALSE(is_enhanced_status_code("2.1234.0"));
  EXPECT_FALSE(is_enhanced_status_code("2..0"));
  EXPECT_FALSE(is_enhanced_status_code("2.0.0."));
  EXPECT_FALSE(is_enhanced_status_code("2.a.0"));
  EXPECT_FALSE(is_enhanced_status_code(""));
}

TEST(ReplyParser, CrLfOnly) {
  EXPECT_EQ(error_of("250 ok\n"), ReplyError::kBareCrOrLf);
  EXPECT_EQ(error_of("250 o\rk\r\n"), ReplyError::kBareCrOrLf);
  EXPECT_EQ(error_of("250 ok\r\r\n"), ReplyError::kBareCrOrLf);
}

TEST(ReplyParser, CodesMustAgreeAcrossLines) {
  EXPECT_EQ(error_of("250-a\r\n251 b\r\n"), ReplyError::kCodeMismatch);
  EXPECT_EQ(error_of("250-a\r\n550 b\r\n"), ReplyError::kCodeMismatch);
}

TEST(ReplyParser, SyntaxErrors) {
  for (std::string_view bad : {"25 x\r\n", "2500 x\r\n", "abc x\r\n", "250x\r\n", "150 x\r\n",
                               "650 x\r\n", "260 x\r\n", "\r\n", " 250 x\r\n", "250_x\r\n"})
    EXPECT_EQ(error_of(bad), ReplyError::kSyntax) << bad;
}

TEST(ReplyParser, ControlCharactersAreRefusedButTabAndUtf8Pass) {
  EXPECT_EQ(error_of(std::string("250 a\0b\r\n", 9)), ReplyError::kControlChar);
  EXPECT_EQ(error_of("250 a\x1b[2Jb\r\n"), ReplyError::kControlChar);
  EXPECT_EQ(error_of("250 a\x7f\r\n"), ReplyError::kControlChar);
  auto r = parse_all("250 a\tb \xe7\x94\xa8\r\n");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].lines[0], "a\tb \xe7\x94\xa8");
}

TEST(ReplyParser, LineLimit) {
  std::string ok = "250 " + std::string(kMaxReplyLine - 6, 'x') + "\r\n";
  ASSERT_EQ(ok.size(), kMaxReplyLine);
  EXPECT_EQ(error_of(ok), ReplyError::kNone);
  std::string too_long = "250 " + std::string(kMaxReplyLine - 5, 'x') + "\r\n";
  EXPECT_EQ(error_of(too_long), ReplyError::kLineTooLong);
  // An endless line fails as soon as it passes the limit, without its CRLF.
  EXPECT_EQ(error_of(std::string(kMaxReplyLine + 10, '2')), ReplyError::kLineTooLong);
}

TEST(ReplyParser, ReplySizeLimit) {
  std::string line = "250-" + std::string(1000, 'x') + "\r\n";
  std::string big;
  while (big.size() <= kMaxReplySize) big += line;
  EXPECT_EQ(error_of(big + "250 end\r\n"), ReplyError::kReplyTooLong);
  // The limit is per reply.
  std::string many;
  for (int i = 0; i < 100; ++i) many += "250 " + std::string(1000, 'x') + "\r\n";
  EXPECT_EQ(parse_all(many).size(), 100u);
}

TEST(ReplyParser, RepliesBeforeAnErrorAreStillReturned) {
  ReplyError e;
  auto r = parse_all("250 one\r\n250 two\r\nbad\r\n250 three\r\n", &e);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(e, ReplyError::kSyntax);
}

TEST(ReplyParser, ByteByByteEqualsWhole) {
  std::string input = "220-mx.test\r\n220 hi\r\n250-2.1.0 a\r\n250 2.1.0 b\r\n550 5.1.1 no\r\n";
  ReplyParser p;
  std::vector<Reply> bytewise;
  for (char c : input) {
    p.feed(std::string_view(&c, 1));
    while (auto r = p.next()) bytewise.push_back(*r);
  }
  auto whole = parse_all(input);
  ASSERT_EQ(bytewise.size(), whole.size());
  for (std::size_t i = 0; i < whole.size(); ++i) {
    EXPECT_EQ(bytewise[i].code, whole[i].code);
    EXPECT_EQ(bytewise[i].enhanced, whole[i].enhanced);
    EXPECT_EQ(bytewise[i].lines, whole[i].lines);
  }
}

TEST(ReplyParser, Idle) {
  ReplyParser p;
  EXPECT_TRUE(p.idle());
  p.feed("25");
  EXPECT_FALSE(p.idle());
  p.feed("0-a\r\n");
  EXPECT_FALSE(p.idle());  // inside a multi-line reply
  p.feed("250 b\r\n");
  EXPECT_FALSE(p.idle());  // a complete reply waits
  ASSERT_TRUE(p.next());
  EXPECT_TRUE(p.idle());
  p.feed("250 x\r");
  EXPECT_FALSE(p.idle());
  p.feed("\n");
  p.next();
  EXPECT_TRUE(p.idle());
  p.feed("\n");
  EXPECT_FALSE(p.idle());  // an error is not idle
}

TEST(Capabilities, ParsesTheExtensionsWeUse) {
  Reply ehlo{250,
             "",
             {"mx.test greets you", "pipelining", "SIZE 35882577", "8BITMIME", "SMTPUTF8",
              "CHUNKING", "STARTTLS", "ENHANCEDSTATUSCODES", "DSN", "REQUIRETLS",
              "AUTH SCRAM-SHA-256 plain", "AUTH=LOGIN PLAIN", "X-UNKNOWN foo", "VRFY"}};
  Capabilities c = parse_capabilities(ehlo);
  EXPECT_TRUE(c.esmtp);
  EXPECT_TRUE(c.pipelining);
  EXPECT_TRUE(c.size);
  EXPECT_EQ(c.size_limit, 35882577u);
  EXPECT_TRUE(c.eight_bit_mime);
  EXPECT_TRUE(c.smtputf8);
  EXPECT_TRUE(c.chunking);
  EXPECT_TRUE(c.starttls);
  EXPECT_TRUE(c.enhanced_status_codes);
  EXPECT_TRUE(c.dsn);
  EXPECT_TRUE(c.requiretls);
  EXPECT_EQ(c.auth_mechanisms, (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
}

TEST(Capabilities, FirstLineIsNotAKeyword) {
  Capabilities c = parse_capabilities(Reply{250, "", {"STARTTLS"}});
  EXPECT_FALSE(c.starttls);
  EXPECT_TRUE(c.esmtp);
}

TEST(Capabilities, SizeWithoutOrWithBadLimit) {
  EXPECT_EQ(parse_capabilities(Reply{250, "", {"mx", "SIZE"}}).size_limit, 0u);
  EXPECT_TRUE(parse_capabilities(Reply{250, "", {"mx", "SIZE"}}).size);
  EXPECT_EQ(parse_capabilities(Reply{250, "", {"mx", "SIZE 12abc"}}).size_limit, 0u);
  EXPECT_EQ(parse_capabilities(Reply{250, "", {"mx", "SIZE 99999999999999999999999"}}).size_limit,
            0u);
}

}  // namespace
}  // namespace sealpost::smtp
