// Reply wire format (RFC 5321 §4.2) with enhanced status codes (RFC 2034).
#include "smtp/reply.hpp"

#include <gtest/gtest.h>

namespace sealpost::smtp {
namespace {

TEST(Reply, SingleLine) {
  EXPECT_EQ(make_reply(250, "2.1.0", "Ok").format(), "250 2.1.0 Ok\r\n");
  EXPECT_EQ((Reply{354, "", {"Go ahead"}}).format(), "354 Go ahead\r\n");
}

TEST(Reply, MultiLine) {
  Reply r{250, "", {"mx.test", "PIPELINING", "SIZE 10"}};
  EXPECT_EQ(r.format(), "250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
  Reply e{550, "5.1.1", {"one", "two"}};
  EXPECT_EQ(e.format(), "550-5.1.1 one\r\n550 5.1.1 two\r\n");
}

TEST(Reply, NoLines) { EXPECT_EQ((Reply{221, "2.0.0", {}}).format(), "221 2.0.0 \r\n"); }

TEST(Reply, CrLfInTextCannotForgeALine) {
  Reply r = make_reply(550, "5.1.1", "<a@b>\r\n250 2.0.0 forged");
  EXPECT_EQ(r.format(), "550 5.1.1 <a@b>  250 2.0.0 forged\r\n");
  EXPECT_EQ(r.summary(), "550 5.1.1 <a@b>  250 2.0.0 forged");
}

TEST(Reply, Classes) {
  EXPECT_TRUE(make_reply(250, "", "").positive());
  EXPECT_TRUE(make_reply(354, "", "").positive());
  EXPECT_TRUE(make_reply(452, "", "").transient());
  EXPECT_TRUE(make_reply(554, "", "").permanent());
  EXPECT_FALSE(make_reply(452, "", "").positive());
}

TEST(Reply, Summary) {
  EXPECT_EQ(make_reply(452, "4.3.1", "Full").summary(), "452 4.3.1 Full");
  EXPECT_EQ((Reply{220, "", {"a", "b"}}).summary(), "220 b");
}

}  // namespace
}  // namespace sealpost::smtp
