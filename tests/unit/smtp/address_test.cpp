// Path and mailbox syntax (RFC 5321 §4.1.2, RFC 6531 §3.3), length limits (§4.5.3.1), UTF-8
// validation (RFC 3629) and the small string helpers.
#include "smtp/address.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;

constexpr PathOptions kReverse{.allow_null = true};
constexpr PathOptions kForward{.allow_postmaster = true};

ParsedPath ok_path(std::string_view in, PathOptions o = {}) {
  ParsedPath p = parse_path(in, o);
  EXPECT_TRUE(p.ok()) << in;
  return p;
}

PathError error_of(std::string_view in, PathOptions o = {}) { return parse_path(in, o).error; }

TEST(ParsePath, SimpleMailbox) {
  ParsedPath p = ok_path("<alice@example.org>");
  EXPECT_FALSE(p.null_path);
  EXPECT_EQ(p.mailbox.local_part, "alice");
  EXPECT_EQ(p.mailbox.domain, "example.org");
  EXPECT_EQ(p.mailbox.text(), "alice@example.org");
  EXPECT_FALSE(p.mailbox.non_ascii);
  EXPECT_EQ(p.rest, "");
}

TEST(ParsePath, RestKeepsLeadingSpaces) {
  EXPECT_EQ(ok_path("<a@b.example>  SIZE=1").rest, "  SIZE=1");
  EXPECT_EQ(ok_path("<a@b.example>x").rest, "x");
}

TEST(ParsePath, NullPathOnlyWhenAllowed) {
  ParsedPath p = ok_path("<> BODY=7BIT", kReverse);
  EXPECT_TRUE(p.null_path);
  EXPECT_EQ(p.rest, " BODY=7BIT");
  EXPECT_EQ(error_of("<>"), PathError::kSyntax);
  EXPECT_EQ(error_of("<>", kForward), PathError::kSyntax);
}

TEST(ParsePath, Postmaster) {
  ParsedPath p = ok_path("<Postmaster>", kForward);
  EXPECT_EQ(p.mailbox.local_part, "Postmaster");
  EXPECT_EQ(p.mailbox.domain, "");
  EXPECT_EQ(p.mailbox.text(), "Postmaster");
  ok_path("<postMASTER>", kForward);
  EXPECT_EQ(error_of("<Postmaster>", kReverse), PathError::kSyntax);
  EXPECT_EQ(error_of("<abuse>", kForward), PathError::kSyntax);
  EXPECT_EQ(error_of("<\"Postmaster\">", kForward), PathError::kSyntax);
}

TEST(ParsePath, SyntaxErrors) {
  for (std::string bad : {""s,
                          "a@b"s,
                          "<"s,
                          "<a@b"s,
                          " <a@b>"s,
                          "<@>"s,
                          "<a@>"s,
                          "<@b>"s,
                          "<a>"s,
                          "<a@b@c>"s,
                          "<.a@b>"s,
                          "<a.@b>"s,
                          "<a..b@c>"s,
                          "<a b@c>"s,
                          "<a@b..c>"s,
                          "<a@.b>"s,
                          "<a@b.>"s,
                          "<a@-b>"s,
                          "<a@b->"s,
                          "<a@b_c>"s,
                          "<a@[1.2.3]>"s,
                          "<a@[]>"s,
                          "<a@[IPv6:1.2.3.4]>"s,
                          "<a@[tag:x]>"s,
                          "<a(b)@c>"s,
                          "<a,b@c>"s,
                          "<\"a\"b@c>"s,
                          "<\"a@c>"s,
                          "<a\x01@b>"s,
                          "<@a:>"s,
                          "<@a>"s,
                          "<@a,b:c@d>"s,
                          "<@-a:c@d>"s}) {
    EXPECT_EQ(error_of(bad, kReverse), PathError::kSyntax) << bad;
  }
}

TEST(ParsePath, AtextCharacters) {
  ParsedPath p = ok_path("<!#$%&'*+-/=?^_`{|}~.x@b.example>");
  EXPECT_EQ(p.mailbox.local_part, "!#$%&'*+-/=?^_`{|}~.x");
}

TEST(ParsePath, QuotedLocalPart) {
  ParsedPath p = ok_path("<\"john doe\"@example.org>");
  EXPECT_EQ(p.mailbox.local_part, "\"john doe\"");
  EXPECT_EQ(p.mailbox.text(), "\"john doe\"@example.org");
  // '>' and an escaped quote inside the quotes do not end the path.
  ParsedPath q = ok_path("<\"a>b\\\"c\"@example.org> SIZE=1");
  EXPECT_EQ(q.mailbox.local_part, "\"a>b\\\"c\"");
  EXPECT_EQ(q.rest, " SIZE=1");
  ok_path("<\"\"@example.org>");
  ok_path("<\"a@b\"@example.org>");
  EXPECT_EQ(error_of("<\"a\\\x01\"@example.org>"), PathError::kSyntax);
  EXPECT_EQ(error_of("<\"a\x01\"@example.org>"), PathError::kSyntax);
  EXPECT_EQ(error_of("<\"a\\\"@example.org>"), PathError::kSyntax);
}

TEST(ParsePath, SourceRouteDropped) {
  ParsedPath p = ok_path("<@one.example,@two.example:user@three.example>");
  EXPECT_EQ(p.mailbox.text(), "user@three.example");
}

TEST(ParsePath, AddressLiterals) {
  EXPECT_EQ(ok_path("<a@[192.0.2.1]>").mailbox.domain, "[192.0.2.1]");
  EXPECT_EQ(ok_path("<a@[IPv6:2001:db8::1]>").mailbox.domain, "[IPv6:2001:db8::1]");
  EXPECT_EQ(error_of("<a@[256.0.0.1]>"), PathError::kSyntax);
  EXPECT_EQ(error_of("<a@[IPv6:2001:db8::g]>"), PathError::kSyntax);
}

TEST(ParsePath, Utf8) {
  ParsedPath p = ok_path(
      "<j\xc3\xb8rn@b\xc3\xbc"
      "cher.example>");
  EXPECT_TRUE(p.mailbox.non_ascii);
  EXPECT_TRUE(ok_path("<ascii@b\xc3\xbc"
                      "cher.example>")
                  .mailbox.non_ascii);
  EXPECT_TRUE(ok_path("<\"j\xc3\xb8rn x\"@example.org>").mailbox.non_ascii);
  EXPECT_EQ(error_of("<j\xc3@example.org>"), PathError::kSyntax);
  EXPECT_EQ(error_of("<a@\xed\xa0\x80.example>"), PathError::kSyntax);  // surrogate
}

TEST(ParsePath, LocalPartLength) {
  ok_path("<" + std::string(64, 'a') + "@b.example>");
  EXPECT_EQ(error_of("<" + std::string(65, 'a') + "@b.example>"), PathError::kTooLong);
  EXPECT_EQ(error_of("<\"" + std::string(63, 'a') + "\"@b.example>"), PathError::kTooLong);
}

TEST(ParsePath, PathLength) {
  std::string label(63, 'd');
  std::string domain = label + "." + label + "." + std::string(61, 'e');  // 189 octets
  std::string ok = "<" + std::string(64, 'a') + "@" + domain + ">";
  ASSERT_EQ(ok.size(), 256u) << domain.size();
  ok_path(ok);
  std::string too_long = "<" + std::string(64, 'a') + "@" + domain + "e>";
  EXPECT_EQ(error_of(too_long), PathError::kTooLong);
  EXPECT_EQ(error_of("<" + std::string(300, 'a')), PathError::kSyntax);  // never closed
}

TEST(IsValidDomain, Labels) {
  EXPECT_TRUE(is_valid_domain("a"));
  EXPECT_TRUE(is_valid_domain("a-b.c1.example"));
  EXPECT_TRUE(is_valid_domain("1.2.3"));
  EXPECT_TRUE(is_valid_domain(std::string(63, 'x') + ".example"));
  EXPECT_FALSE(is_valid_domain(std::string(64, 'x') + ".example"));
  EXPECT_FALSE(is_valid_domain(""));
  EXPECT_FALSE(is_valid_domain("."));
  EXPECT_FALSE(is_valid_domain("a..b"));
  EXPECT_FALSE(is_valid_domain("a.b."));
  EXPECT_FALSE(is_valid_domain("-a.b"));
  EXPECT_FALSE(is_valid_domain("a_b"));
  EXPECT_FALSE(is_valid_domain("[1.2.3.4]"));
  std::string long_name;
  while (long_name.size() < 256) long_name += "abcdefg.";
  EXPECT_FALSE(is_valid_domain(long_name.substr(0, 256)));
  EXPECT_TRUE(
      is_valid_domain("b\xc3\xbc"
                      "cher.example"));
}

TEST(IsValidAddressLiteral, Forms) {
  EXPECT_TRUE(is_valid_address_literal("[127.0.0.1]"));
  EXPECT_TRUE(is_valid_address_literal("[IPv6:::1]"));
  EXPECT_FALSE(is_valid_address_literal("[]"));
  EXPECT_FALSE(is_valid_address_literal("127.0.0.1"));
  EXPECT_FALSE(is_valid_address_literal("[127.0.0.1"));
  EXPECT_FALSE(is_valid_address_literal("[1.2.3.4.5]"));
  EXPECT_FALSE(is_valid_address_literal("[::1]"));
  EXPECT_FALSE(is_valid_address_literal("[ 1.2.3.4]"));
  EXPECT_FALSE(is_valid_address_literal("[1.2.3.4\0]"s));
  // Regression (found by address_fuzz): a NUL used to cut the text inet_pton saw.
  EXPECT_FALSE(
      is_valid_address_literal("[IPv6:2001:db8::\0\0"
                               "1]"s));
  EXPECT_FALSE(is_valid_address_literal("[IPv6:::1\0junk]"s));
}

TEST(IsValidUtf8, Sequences) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9"));               // U+00E9
  EXPECT_TRUE(is_valid_utf8("\xe2\x82\xac"));           // U+20AC
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));       // U+1F600
  EXPECT_TRUE(is_valid_utf8("\xf4\x8f\xbf\xbf"));       // U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\x80"));                  // stray continuation
  EXPECT_FALSE(is_valid_utf8("\xc3"));                  // truncated
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc3x"));                 // bad continuation
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));              // overlong
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xf0\x80\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));          // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));      // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xf8\x88\x80\x80\x80"));  // 5-byte form
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

TEST(AsciiHelpers, CaseFolding) {
  EXPECT_TRUE(is_ascii_case_equal("PostMaster", "postmaster"));
  EXPECT_FALSE(is_ascii_case_equal("post", "postmaster"));
  EXPECT_FALSE(is_ascii_case_equal("\xc3\xa9", "\xc3\x89"));  // no Unicode folding
  EXPECT_TRUE(is_ascii_case_equal("", ""));
  EXPECT_EQ(ascii_lower("MiXeD-09\xc3\x89"), "mixed-09\xc3\x89");
}

}  // namespace
}  // namespace sealpost::smtp
