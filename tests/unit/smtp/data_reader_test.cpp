// DotReader (DATA framing, dot-unstuffing) and ContentChecker (CRLF only, 998-octet lines,
// size limit) on their own, including feeds split at every byte.
#include "smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;

struct Framed {
  std::string body;
  ContentError error = ContentError::kNone;
  bool done = false;
  std::size_t consumed = 0;
};

// Feeds `wire` in pieces of `step` bytes (0 = whole) until the reader is done.
Framed frame(std::string_view wire, std::size_t step = 0, std::size_t max = 1 << 20) {
  Framed f;
  ContentChecker checker(&f.body, max);
  DotReader reader(&checker);
  std::size_t pos = 0;
  while (pos < wire.size() && !reader.done()) {
    std::size_t n = step == 0 ? wire.size() - pos : std::min(step, wire.size() - pos);
    std::size_t used = reader.feed(wire.substr(pos, n));
    f.consumed += used;
    if (used < n) break;  // reader stopped at the terminator
    pos += n;
  }
  f.done = reader.done();
  f.error = checker.error();
  return f;
}

TEST(DotReader, TerminatorEndsDataAndIsNotContent) {
  Framed f = frame("Hello\r\n.\r\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.body, "Hello\r\n");
  EXPECT_EQ(f.error, ContentError::kNone);
  EXPECT_EQ(f.consumed, 10u);
}

TEST(DotReader, StopsRightAfterTerminator) {
  std::string body;
  ContentChecker checker(&body, 1000);
  DotReader reader(&checker);
  EXPECT_EQ(reader.feed("a\r\n.\r\nQUIT\r\n"), 6u);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.feed("more"), 0u);
  EXPECT_EQ(body, "a\r\n");
}

TEST(DotReader, EmptyMessage) {
  Framed f = frame(".\r\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.body, "");
}

TEST(DotReader, Unstuffing) {
  Framed f = frame("..a\r\n..\r\n...\r\nb.\r\n.b\r\n.\r\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.body, ".a\r\n.\r\n..\r\nb.\r\nb\r\n");
}

TEST(DotReader, IncompleteInputIsNotDone) {
  for (std::string wire : {"a\r\n."s, "a\r\n.\r"s, "a\r\n"s, "a"s, "."s, ""s}) {
    Framed f = frame(wire);
    EXPECT_FALSE(f.done) << wire;
    EXPECT_EQ(f.consumed, wire.size());
  }
}

TEST(DotReader, LookAlikesDoNotTerminate) {
  for (std::string wire :
       {"a\n.\n"s, "a\n.\r\n"s, "a\r.\r\n"s, "a\r\n.\rx"s, "a\r.\n"s, "a\n\n.\r\n"s,
        "a\r\n\x00.\r\n"s, "a\r\n.\x00\r\n"s, "a\r\r\n.\r\r\n"s, "a\r\n. \r\n"s, "a\r\n.\n"s}) {
    Framed f = frame(wire);
    EXPECT_FALSE(f.done) << wire.size();
  }
}

TEST(DotReader, BareLineEndsAreFlaggedNotNormalised) {
  Framed f = frame("a\nb\r\n.\r\n");
  EXPECT_TRUE(f.done);
  EXPECT_EQ(f.error, ContentError::kBareCrOrLf);
  Framed g = frame("a\rb\r\n.\r\n");
  EXPECT_EQ(g.error, ContentError::kBareCrOrLf);
  Framed dot_cr = frame("a\r\n.\rb\r\n.\r\n");
  EXPECT_TRUE(dot_cr.done);
  EXPECT_EQ(dot_cr.error, ContentError::kBareCrOrLf);
}

TEST(DotReader, SameResultWhateverTheSplit) {
  const std::string wire = "From: a\r\n\r\n..x\r\n.\r\r\n\r\n.y\r\n\xc3\xa9\r\n.\r\nTAIL";
  Framed whole = frame(wire);
  ASSERT_TRUE(whole.done);
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    Framed f = frame(wire, step);
    EXPECT_EQ(f.body, whole.body) << step;
    EXPECT_EQ(f.error, whole.error) << step;
    EXPECT_EQ(f.consumed, whole.consumed) << step;
  }
}

TEST(ContentChecker, AcceptsCrlfText) {
  std::string body;
  ContentChecker c(&body, 100);
  c.append("ab\r\ncd\r\n");
  c.finish();
  EXPECT_EQ(c.error(), ContentError::kNone);
  EXPECT_EQ(body, "ab\r\ncd\r\n");
  EXPECT_EQ(c.size(), 8u);
}

TEST(ContentChecker, CrLfSplitAcrossAppends) {
  std::string body;
  ContentChecker c(&body, 100);
  c.append("ab\r");
  c.append("\ncd");
  c.finish();
  EXPECT_EQ(c.error(), ContentError::kNone);
  EXPECT_EQ(body, "ab\r\ncd");
}

TEST(ContentChecker, TrailingCrIsBare) {
  std::string body;
  ContentChecker c(&body, 100);
  c.append("ab\r");
  EXPECT_EQ(c.error(), ContentError::kNone);
  c.finish();
  EXPECT_EQ(c.error(), ContentError::kBareCrOrLf);
}

TEST(ContentChecker, LoneLfAndCr) {
  for (std::string bad : {"\n"s, "a\nb"s, "\r\r\n"s, "a\rb"s, "\n\r\n"s}) {
    std::string body;
    ContentChecker c(&body, 100);
    c.append(bad);
    c.finish();
    EXPECT_EQ(c.error(), ContentError::kBareCrOrLf) << bad.size();
    EXPECT_TRUE(body.empty());
  }
}

TEST(ContentChecker, LineLength) {
  std::string body;
  ContentChecker ok(&body, 1 << 20);
  ok.append(std::string(998, 'a') + "\r\n" + std::string(998, 'b'));
  ok.finish();
  EXPECT_EQ(ok.error(), ContentError::kNone);
  std::string body2;
  ContentChecker bad(&body2, 1 << 20);
  bad.append(std::string(500, 'a'));
  bad.append(std::string(499, 'a'));
  EXPECT_EQ(bad.error(), ContentError::kLineTooLong);
}

TEST(ContentChecker, SizeLimitReleasesMemory) {
  std::string body;
  ContentChecker c(&body, 100);
  c.append(std::string(60, 'a'));
  EXPECT_EQ(body.size(), 60u);
  c.append(std::string(40, 'b'));
  EXPECT_EQ(c.error(), ContentError::kNone);
  c.append("c");
  EXPECT_EQ(c.error(), ContentError::kTooBig);
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(body.capacity(), std::string().capacity());
  c.append(std::string(1000, 'd'));
  EXPECT_TRUE(body.empty());
  EXPECT_EQ(c.size(), 1101u);
}

TEST(ContentChecker, ErrorPriority) {
  {
    std::string body;
    ContentChecker c(&body, 10);
    c.append(std::string(2000, 'a'));  // too long a line, then too big
    EXPECT_EQ(c.error(), ContentError::kTooBig);
    c.append("\n");
    EXPECT_EQ(c.error(), ContentError::kBareCrOrLf);
    c.append(std::string(2000, 'a'));
    EXPECT_EQ(c.error(), ContentError::kBareCrOrLf);
  }
  {
    std::string body;
    ContentChecker c(&body, 1 << 20);
    c.append("\n" + std::string(2000, 'a'));
    EXPECT_EQ(c.error(), ContentError::kBareCrOrLf);
  }
}

}  // namespace
}  // namespace sealpost::smtp
