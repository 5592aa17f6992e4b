// RDATA parsing: each type's wire form, and malformed input (truncation, trailing bytes,
// compression pointers, over-long names) refused without a crash.
#include "dns/rdata.hpp"

#include <gtest/gtest.h>

#include <initializer_list>

namespace sealpost::dns {
namespace {

std::vector<std::uint8_t> bytes(std::initializer_list<int> list) {
  std::vector<std::uint8_t> out;
  for (int b : list) out.push_back(static_cast<std::uint8_t>(b));
  return out;
}

// "\x02mx\x07example\x03org\x00"
std::vector<std::uint8_t> name(std::initializer_list<std::string> labels) {
  std::vector<std::uint8_t> out;
  for (const auto& l : labels) {
    out.push_back(static_cast<std::uint8_t>(l.size()));
    out.insert(out.end(), l.begin(), l.end());
  }
  out.push_back(0);
  return out;
}

std::vector<std::uint8_t> cat(std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes span(const std::vector<std::uint8_t>& v) { return Bytes(v.data(), v.size()); }

TEST(Rdata, Address) {
  EXPECT_EQ(parse_a(span(bytes({192, 0, 2, 1}))), "192.0.2.1");
  EXPECT_FALSE(parse_a(span(bytes({192, 0, 2}))));
  EXPECT_FALSE(parse_a(span(bytes({192, 0, 2, 1, 0}))));
  auto v6 = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  EXPECT_EQ(parse_aaaa(span(v6)), "2001:db8::1");
  v6.pop_back();
  EXPECT_FALSE(parse_aaaa(span(v6)));
}

TEST(Rdata, Mx) {
  auto rd = cat(bytes({0, 10}), name({"mx", "example", "org"}));
  auto mx = parse_mx(span(rd));
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->exchange, "mx.example.org.");
  EXPECT_FALSE(mx->is_null());
}

TEST(Rdata, NullMx) {  // RFC 7505: "0 ."
  auto mx = parse_mx(span(bytes({0, 0, 0})));
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->exchange, ".");
  EXPECT_TRUE(mx->is_null());
  auto not_null = parse_mx(span(bytes({0, 5, 0})));  // preference 5: not the null MX
  ASSERT_TRUE(not_null);
  EXPECT_FALSE(not_null->is_null());
}

TEST(Rdata, MxMalformed) {
  EXPECT_FALSE(parse_mx(span(bytes({}))));
  EXPECT_FALSE(parse_mx(span(bytes({0}))));
  EXPECT_FALSE(parse_mx(span(bytes({0, 10}))));                  // no name
  EXPECT_FALSE(parse_mx(span(bytes({0, 10, 2, 'm', 'x'}))));     // no root label
  EXPECT_FALSE(parse_mx(span(bytes({0, 10, 5, 'm', 'x', 0}))));  // label past the end
  EXPECT_FALSE(parse_mx(span(bytes({0, 10, 0xC0, 0x0C}))));      // compression pointer
  EXPECT_FALSE(parse_mx(span(bytes({0, 10, 0x40, 0}))));         // reserved label type
  EXPECT_FALSE(parse_mx(span(bytes({0, 10, 0, 7}))));            // trailing byte
}

TEST(Rdata, NameLimits) {
  // 4 labels of 63 octets = 4 * 64 + 1 = 257 > 255 (RFC 1035 §2.3.4).
  std::vector<std::uint8_t> wire;
  for (int i = 0; i < 4; ++i) {
    wire.push_back(63);
    wire.insert(wire.end(), 63, 'a');
  }
  wire.push_back(0);
  std::size_t pos = 0;
  EXPECT_FALSE(parse_name(span(wire), pos));
  // 3 labels of 63 and one of 61: 3 * 64 + 62 + 1 = 255: allowed.
  wire.clear();
  for (int i = 0; i < 3; ++i) {
    wire.push_back(63);
    wire.insert(wire.end(), 63, 'a');
  }
  wire.push_back(61);
  wire.insert(wire.end(), 61, 'b');
  wire.push_back(0);
  pos = 0;
  auto n = parse_name(span(wire), pos);
  ASSERT_TRUE(n);
  EXPECT_EQ(pos, wire.size());
}

TEST(Rdata, NameEscapes) {  // RFC 4343 §2.1: a dot inside a label and odd bytes are escaped
  auto wire = bytes({3, 'a', '.', 'b', 2, 0x01, ' ', 0});
  std::size_t pos = 0;
  EXPECT_EQ(parse_name(span(wire), pos), "a\\.b.\\001\\032.");
}

TEST(Rdata, Srv) {
  auto rd = cat(bytes({0, 1, 0, 5, 0x01, 0xD1}), name({"mail", "example", "org"}));
  auto srv = parse_srv(span(rd));
  ASSERT_TRUE(srv);
  EXPECT_EQ(srv->priority, 1);
  EXPECT_EQ(srv->weight, 5);
  EXPECT_EQ(srv->port, 465);
  EXPECT_EQ(srv->target, "mail.example.org.");
  auto dot = parse_srv(span(bytes({0, 0, 0, 0, 0, 0, 0})));
  ASSERT_TRUE(dot);
  EXPECT_EQ(dot->target, ".");
  EXPECT_FALSE(parse_srv(span(bytes({0, 0, 0, 0, 0, 0}))));
  EXPECT_FALSE(parse_srv(span(bytes({0, 0, 0}))));
}

TEST(Rdata, Tlsa) {
  auto t = parse_tlsa(span(bytes({3, 1, 1, 0xab, 0xcd})));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->usage, 3);
  EXPECT_EQ(t->selector, 1);
  EXPECT_EQ(t->matching_type, 1);
  EXPECT_EQ(hex(span(t->data)), "abcd");
  EXPECT_FALSE(parse_tlsa(span(bytes({3, 1, 1}))));  // no association data
  EXPECT_FALSE(parse_tlsa(span(bytes({3, 1}))));
}

TEST(Rdata, Txt) {
  auto t = parse_txt(span(bytes({3, 'a', 'b', 'c', 0, 2, 'd', 'e'})));
  ASSERT_TRUE(t);
  ASSERT_EQ(t->strings.size(), 3u);
  EXPECT_EQ(t->strings[1], "");
  EXPECT_EQ(t->joined(), "abcde");
  EXPECT_FALSE(parse_txt(span(bytes({}))));
  EXPECT_FALSE(parse_txt(span(bytes({4, 'a', 'b', 'c'}))));
}

TEST(Rdata, Text) {
  EXPECT_EQ(rdata_to_text(RrType::kMx, span(cat(bytes({0, 10}), name({"mx", "t"})))), "10 mx.t.");
  EXPECT_EQ(rdata_to_text(RrType::kTxt, span(bytes({4, 'a', '"', 0x01, 'b'}))), "\"a\\\"\\001b\"");
  EXPECT_EQ(rdata_to_text(RrType::kA, span(bytes({1, 2, 3}))), "\\# 3 010203");  // RFC 3597
  EXPECT_EQ(rdata_to_text(RrType::kTlsa, span(bytes({3, 1, 1, 0xff}))), "3 1 1 ff");
}

TEST(Rdata, TypeNames) {
  EXPECT_EQ(rr_type_from_name("tlsa"), RrType::kTlsa);
  EXPECT_EQ(rr_type_from_name("AAAA"), RrType::kAaaa);
  EXPECT_FALSE(rr_type_from_name("NS"));
  EXPECT_FALSE(rr_type_from_name(""));
  EXPECT_STREQ(rr_type_name(RrType::kSrv), "SRV");
}

}  // namespace
}  // namespace sealpost::dns
