// xtext (RFC 3461 §4), RFC 6533 utf-8-addr encodings and the DSN parameter parsers: every
// accepted and refused form, the limits, and encode/decode round trips.
#include "smtp/dsn.hpp"

#include <gtest/gtest.h>

#include <string>

#include "smtp/xtext.hpp"

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;

TEST(Xtext, Decodes) {
  EXPECT_EQ(xtext_decode(""), "");
  EXPECT_EQ(xtext_decode("abc"), "abc");
  EXPECT_EQ(xtext_decode("a+2Bb"), "a+b");
  EXPECT_EQ(xtext_decode("+3D+20+2B"), "= +");
  EXPECT_EQ(xtext_decode("+00+FF"), "\0\xff"s);
  EXPECT_EQ(xtext_decode("!~"), "!~");
}

TEST(Xtext, RefusesMalformed) {
  for (std::string bad : {"+"s, "+2"s, "a+"s, "+2b"s, "+G0"s, "+ 2B"s, "a=b"s, "a b"s, "a+b"s,
                          "\x7f"s, "\xc3\xa9"s, "\t"s, "x\0y"s}) {
    EXPECT_FALSE(xtext_decode(bad)) << bad;
  }
}

TEST(Xtext, EncodesOnlyWhatMust) {
  EXPECT_EQ(xtext_encode("user@example.org"), "user@example.org");
  EXPECT_EQ(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
  EXPECT_EQ(xtext_encode("\r\n\xff"), "+0D+0A+FF");
  for (int c = 0; c < 256; ++c) {
    std::string s(1, static_cast<char>(c));
    EXPECT_EQ(xtext_decode(xtext_encode(s)), s) << c;
  }
}

TEST(Utf8Addr, Decodes) {
  EXPECT_EQ(utf8_addr_decode("user@example.org"), "user@example.org");
  EXPECT_EQ(utf8_addr_decode("b\\x{F6}b@example.org"),
            "b\xc3\xb6"
            "b@example.org");
  EXPECT_EQ(utf8_addr_decode("b\\x{f6}b@x"),
            "b\xc3\xb6"
            "b@x");  // HEXDIG is case-insensitive
  EXPECT_EQ(utf8_addr_decode("\\x{7528}\\x{6237}@x"), "\xe7\x94\xa8\xe6\x88\xb7@x");
  EXPECT_EQ(utf8_addr_decode("\\x{1F600}@x"), "\xf0\x9f\x98\x80@x");
  EXPECT_EQ(utf8_addr_decode("\\x{10FFFF}"), "\xf4\x8f\xbf\xbf");
  EXPECT_EQ(utf8_addr_decode("a\\x{2B}b\\x{3D}\\x{5C}\\x{20}"), "a+b=\\ ");
  EXPECT_EQ(utf8_addr_decode("\xe7\x94\xa8@x"), "\xe7\x94\xa8@x");  // unitext: raw UTF-8
}

TEST(Utf8Addr, RefusesMalformed) {
  for (std::string bad : {
           "a+b"s,       "a=b"s,          "a\\b"s,  "a b"s,  // need \x{..}
           "\\x{41}"s,                     // 'A' is a QCHAR: must be written plainly
           "\\x{0F6}"s,  "\\x{00F6}"s,     // leading zero
           "\\x{6}"s,    "\\x{1234567}"s,  // 2 to 6 digits
           "\\x{D800}"s, "\\x{110000}"s,   // surrogate, beyond Unicode
           "\\x{00}"s,   "\\x{F6"s,       "\\x{}"s, "\\x{G0}"s,      "\\y{F6}"s,
           "\\x"s,       "\xc3"s,         "\xff"s,  "\xed\xa0\x80"s,  // bad UTF-8
       }) {
    EXPECT_FALSE(utf8_addr_decode(bad)) << bad;
  }
}

TEST(Utf8Addr, EncodesSevenBitAndRoundTrips) {
  EXPECT_EQ(utf8_addr_encode("b\xc3\xb6"
                             "b@example.org"),
            "b\\x{F6}b@example.org");
  EXPECT_EQ(utf8_addr_encode("a+b=c\\ d"), "a\\x{2B}b\\x{3D}c\\x{5C}\\x{20}d");
  EXPECT_EQ(utf8_addr_encode("\xf0\x9f\x98\x80"), "\\x{1F600}");
  for (std::string s : {"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test"s, "\"a b\"@x"s,
                        "\x01\x7f\xc2\x80"s}) {
    EXPECT_EQ(utf8_addr_decode(utf8_addr_encode(s)), s) << s;
  }
}

TEST(DsnParams, Ret) {
  Ret r = Ret::kUnspecified;
  EXPECT_EQ(parse_ret("FULL", &r), nullptr);
  EXPECT_EQ(r, Ret::kFull);
  EXPECT_EQ(parse_ret("hdrs", &r), nullptr);
  EXPECT_EQ(r, Ret::kHdrs);
  for (auto bad : {"", "FULLY", "HDR", "FULL,HDRS", "NONE"}) EXPECT_NE(parse_ret(bad, &r), nullptr);
  EXPECT_EQ(format_ret(Ret::kFull), "FULL");
  EXPECT_EQ(format_ret(Ret::kUnspecified), "");
}

TEST(DsnParams, Envid) {
  std::string id;
  EXPECT_EQ(parse_envid("QQ314159", &id), nullptr);
  EXPECT_EQ(id, "QQ314159");
  EXPECT_EQ(parse_envid("a+20b+2Bc", &id), nullptr);
  EXPECT_EQ(id, "a b+c");
  EXPECT_EQ(parse_envid(std::string(100, 'x'), &id), nullptr);  // the limit itself
  EXPECT_STREQ(parse_envid(std::string(101, 'x'), &id),
               "ENVID parameter too long (at most 100 characters)");
  EXPECT_STREQ(parse_envid("a+2", &id), "Bad ENVID parameter (not xtext)");
  EXPECT_STREQ(parse_envid("a+0Db", &id), "Bad ENVID parameter (printable US-ASCII only)");
  EXPECT_STREQ(parse_envid("+C3+A9", &id), "Bad ENVID parameter (printable US-ASCII only)");
  EXPECT_STREQ(parse_envid("\xc3\xa9", &id), "Bad ENVID parameter (not xtext)");
  EXPECT_EQ(id, std::string(100, 'x'));  // untouched by failures
}

TEST(DsnParams, Notify) {
  std::uint8_t n = 0;
  EXPECT_EQ(parse_notify("NEVER", &n), nullptr);
  EXPECT_EQ(n, kNotifyNever);
  EXPECT_EQ(parse_notify("success,Failure,delay", &n), nullptr);
  EXPECT_EQ(n, kNotifySuccess | kNotifyFailure | kNotifyDelay);
  EXPECT_EQ(parse_notify("DELAY", &n), nullptr);
  EXPECT_EQ(n, kNotifyDelay);
  EXPECT_STREQ(parse_notify("NEVER,SUCCESS", &n), "Bad NOTIFY parameter (NEVER must be alone)");
  EXPECT_STREQ(parse_notify("FAILURE,NEVER", &n), "Bad NOTIFY parameter (NEVER must be alone)");
  EXPECT_STREQ(parse_notify("SUCCESS,success", &n), "Bad NOTIFY parameter (keyword repeated)");
  EXPECT_STREQ(parse_notify("NEVER,NEVER", &n), "Bad NOTIFY parameter (keyword repeated)");
  for (auto bad :
       {"", ",", "SUCCESS,", ",SUCCESS", "SUCCESS,,FAILURE", "ALWAYS", "SUCCESS;FAILURE"})
    EXPECT_STREQ(parse_notify(bad, &n), "Bad NOTIFY parameter (NEVER, or SUCCESS, FAILURE, DELAY)")
        << bad;
  EXPECT_EQ(format_notify(kNotifyNever), "NEVER");
  EXPECT_EQ(format_notify(kNotifyDelay | kNotifySuccess), "SUCCESS,DELAY");
}

TEST(DsnParams, Orcpt) {
  RecipientDsn d;
  EXPECT_EQ(parse_orcpt("rfc822;Bob+2Bx@Example.COM", &d), nullptr);
  EXPECT_EQ(d.orcpt_type, "rfc822");
  EXPECT_EQ(d.orcpt, "Bob+x@Example.COM");
  EXPECT_EQ(format_orcpt(d), "rfc822;Bob+2Bx@Example.COM");
  EXPECT_EQ(parse_orcpt("RFC822;a@b", &d), nullptr);  // addr-type is case-insensitive
  EXPECT_EQ(d.orcpt_type, "rfc822");
  EXPECT_EQ(parse_orcpt("UTF-8;b\\x{F6}b@x", &d), nullptr);
  EXPECT_EQ(d.orcpt_type, "utf-8");
  EXPECT_EQ(d.orcpt,
            "b\xc3\xb6"
            "b@x");
  EXPECT_EQ(format_orcpt(d), "utf-8;b\\x{F6}b@x");
  EXPECT_EQ(parse_orcpt("rfc822;" + std::string(493, 'a'), &d), nullptr);  // 500 in all
  EXPECT_STREQ(parse_orcpt("rfc822;" + std::string(494, 'a'), &d),
               "ORCPT parameter too long (at most 500 characters)");
  EXPECT_STREQ(parse_orcpt("a@b", &d), "Bad ORCPT parameter (addr-type;address)");
  EXPECT_STREQ(parse_orcpt("rfc822;", &d), "Bad ORCPT parameter (empty address)");
  EXPECT_STREQ(parse_orcpt("x400;a@b", &d), "Unsupported ORCPT address type (rfc822 or utf-8)");
  EXPECT_STREQ(parse_orcpt(";a@b", &d), "Unsupported ORCPT address type (rfc822 or utf-8)");
  EXPECT_STREQ(parse_orcpt("rfc822;a+4", &d), "Bad ORCPT parameter (not xtext)");
  EXPECT_STREQ(parse_orcpt("rfc822;a+0Ab", &d), "Bad ORCPT parameter (printable US-ASCII only)");
  EXPECT_STREQ(parse_orcpt("rfc822;b\xc3\xb6"
                           "b@x",
                           &d),
               "Bad ORCPT parameter (not xtext)");
  EXPECT_STREQ(parse_orcpt("utf-8;a\\x{0A}b", &d), "Bad ORCPT parameter (RFC 6533 utf-8 address)");
  EXPECT_STREQ(parse_orcpt("utf-8;a+2Bb", &d), "Bad ORCPT parameter (RFC 6533 utf-8 address)");
}

}  // namespace
}  // namespace sealpost::smtp
