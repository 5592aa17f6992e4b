// The generated message: exact body size, CRLF-only lines of at most 78 octets, no line that
// starts with "." (so no dot-stuffing is needed), and the end-of-data line.
#include "cli/bench/test_message.hpp"

#include <gtest/gtest.h>

namespace sealpost::bench {
namespace {

std::string body_of(const std::string& message) {
  auto end = message.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos);
  return message.substr(end + 4);
}

void expect_wellformed(const std::string& text) {
  std::size_t start = 0;
  while (start < text.size()) {
    auto crlf = text.find("\r\n", start);
    ASSERT_NE(crlf, std::string::npos) << "unterminated line";
    std::string line = text.substr(start, crlf - start);
    EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos) << "bare CR or LF";
    EXPECT_LE(line.size(), 78u);
    EXPECT_FALSE(!line.empty() && line[0] == '.');
    start = crlf + 2;
  }
}

TEST(TestMessage, ExactSizes) {
  for (std::size_t size : {0, 2, 3, 79, 80, 81, 82, 83, 160, 161, 1024, 102400}) {
    std::string m = build_message("a@b.example", "demo@localhost", size);
    std::string body = body_of(m);
    EXPECT_EQ(body.size(), size) << size;
    expect_wellformed(m);
  }
}

TEST(TestMessage, OneOctetBecomesTwo) {
  EXPECT_EQ(body_of(build_message("a@b", "c@d", 1)), "\r\n");
}

TEST(TestMessage, DataEndsWithTerminator) {
  std::string d = build_data("a@b.example", "demo@localhost", 1024);
  ASSERT_GE(d.size(), 5u);
  EXPECT_EQ(d.substr(d.size() - 5), "\r\n.\r\n");
  EXPECT_NE(d.find("From: <a@b.example>\r\n"), std::string::npos);
}

}  // namespace
}  // namespace sealpost::bench
