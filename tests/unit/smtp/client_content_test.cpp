// Client-side content encoding: dot-stuffing (RFC 5321 §4.5.2) and CRLF canonicalisation.
#include <gtest/gtest.h>

#include <string>

#include "smtp/data_reader.hpp"
#include "smtp/dot_stuffer.hpp"
#include "smtp/message_text.hpp"

namespace sealpost::smtp {
namespace {

TEST(DotStuffer, DoublesLeadingDotsAndTerminates) {
  EXPECT_EQ(dot_stuff(""), ".\r\n");
  EXPECT_EQ(dot_stuff("a\r\n"), "a\r\n.\r\n");
  EXPECT_EQ(dot_stuff(".\r\n"), "..\r\n.\r\n");
  EXPECT_EQ(dot_stuff("a\r\n.b\r\n..c\r\nd.e\r\n"), "a\r\n..b\r\n...c\r\nd.e\r\n.\r\n");
}

// What the server's DotReader takes back out is exactly what went in.
TEST(DotStuffer, RoundTripsThroughTheServerReader) {
  for (std::string content : {std::string(""), std::string("x\r\n"), std::string(".\r\n.\r\n"),
                              std::string("a\r\n.\r\nb\r\n"), std::string("\r\n\r\n..\r\n")}) {
    std::string body;
    ContentChecker checker(&body, 1 << 20);
    DotReader reader(&checker);
    std::string wire = dot_stuff(content);
    EXPECT_EQ(reader.feed(wire), wire.size());
    EXPECT_TRUE(reader.done());
    checker.finish();
    EXPECT_EQ(checker.error(), ContentError::kNone);
    EXPECT_EQ(body, content);
  }
}

TEST(CrlfText, Check) {
  EXPECT_TRUE(is_crlf_text(""));
  EXPECT_TRUE(is_crlf_text("a\r\nb\r\n"));
  EXPECT_TRUE(is_crlf_text("no line end"));
  EXPECT_FALSE(is_crlf_text("a\nb"));
  EXPECT_FALSE(is_crlf_text("a\rb"));
  EXPECT_FALSE(is_crlf_text("a\r"));
  EXPECT_FALSE(is_crlf_text("a\r\r\n"));
}

TEST(CrlfText, ToCrlfConvertsUnixText) {
  EXPECT_EQ(to_crlf("a\nb\n"), "a\r\nb\r\n");
  EXPECT_EQ(to_crlf("a\r\nb\n"), "a\r\nb\r\n");
  EXPECT_EQ(to_crlf("last line"), "last line\r\n");
  EXPECT_EQ(to_crlf(""), "");
  EXPECT_EQ(to_crlf("\n.\n"), "\r\n.\r\n");  // then dot_stuff makes the "." harmless
}

TEST(CrlfText, ToCrlfRefusesBareCr) {
  EXPECT_FALSE(to_crlf("a\rb\n"));
  EXPECT_FALSE(to_crlf("a\r"));
  EXPECT_FALSE(to_crlf("\r\r\n.\r\r\n"));
}

TEST(MessageText, HeaderSectionEndsWithTheEmptyLine) {
  EXPECT_EQ(header_section("A: 1\r\n\r\nbody"), "A: 1\r\n\r\n");
  EXPECT_EQ(header_section("A: 1\r\n"), "A: 1\r\n");
  EXPECT_EQ(header_section("\r\nbody"), "\r\n");
  EXPECT_EQ(header_section(""), "");
}

TEST(MessageText, EightBit) {
  EXPECT_FALSE(has_8bit("plain\r\n\x7f"));
  EXPECT_TRUE(has_8bit("Subject: \xc3\xa9\r\n"));
  EXPECT_TRUE(has_8bit(std::string_view("\x80", 1)));
}

}  // namespace
}  // namespace sealpost::smtp
