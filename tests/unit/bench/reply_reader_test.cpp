// Reply framing: multi-line replies, several replies in one read, a reply split at every
// byte, and malformed input.
#include "cli/bench/reply_reader.hpp"

#include <gtest/gtest.h>

namespace sealpost::bench {
namespace {

TEST(ReplyReader, SingleLine) {
  ReplyReader r;
  r.feed("220 mail.test ESMTP Sealpost\r\n");
  auto reply = r.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->code, 220);
  EXPECT_EQ(reply->lines, std::vector<std::string>{"mail.test ESMTP Sealpost"});
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.empty());
}

TEST(ReplyReader, MultiLineAndExtensions) {
  ReplyReader r;
  r.feed("250-mail.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 SIZE 52428800\r\n");
  auto reply = r.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->code, 250);
  EXPECT_EQ(reply->lines.size(), 4u);
  EXPECT_TRUE(has_extension(*reply, "pipelining"));
  EXPECT_FALSE(has_extension(*reply, "mail.test"));  // the first line is not a keyword
  EXPECT_EQ(extension_params(*reply, "AUTH"), "PLAIN LOGIN");
  EXPECT_EQ(extension_params(*reply, "PIPELINING"), "");
  EXPECT_FALSE(extension_params(*reply, "STARTTLS"));
}

TEST(ReplyReader, PipelinedRepliesInOneRead) {
  ReplyReader r;
  r.feed("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_EQ(r.next()->code, 250);
  EXPECT_EQ(r.next()->code, 250);
  EXPECT_FALSE(r.empty());
  EXPECT_EQ(r.next()->code, 354);
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.empty());
}

TEST(ReplyReader, ByteByByte) {
  std::string text = "250-first\r\n250 second\r\n221 2.0.0 Bye\r\n";
  ReplyReader r;
  std::vector<int> codes;
  for (char c : text) {
    r.feed(std::string_view(&c, 1));
    while (auto reply = r.next()) codes.push_back(reply->code);
  }
  EXPECT_EQ(codes, (std::vector<int>{250, 221}));
  EXPECT_TRUE(r.error().empty());
}

TEST(ReplyReader, BareCodeAndLoneLf) {
  ReplyReader r;
  r.feed("250\n");
  auto reply = r.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->code, 250);
  EXPECT_EQ(reply->lines, std::vector<std::string>{""});
}

TEST(ReplyReader, Malformed) {
  for (std::string bad : {"hello\r\n", "25 short\r\n", "250x\r\n", "250-a\r\n251 b\r\n"}) {
    ReplyReader r;
    r.feed(bad);
    EXPECT_FALSE(r.next()) << bad;
    EXPECT_FALSE(r.error().empty()) << bad;
    r.feed("250 ok\r\n");
    EXPECT_FALSE(r.next()) << "no replies after an error";
  }
}

TEST(ReplyReader, OverlongLine) {
  ReplyReader r;
  r.feed("250 " + std::string(ReplyReader::kMaxLine + 10, 'x'));
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.error().empty());
}

}  // namespace
}  // namespace sealpost::bench
