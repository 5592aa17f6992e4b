// Strict base64: RFC 4648 §10 vectors and the inputs a strict decoder must refuse.
#include "sasl/base64.hpp"

#include <gtest/gtest.h>

namespace sealpost::sasl {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64, BinaryRoundTrip) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    const std::string part = all.substr(0, n);
    EXPECT_EQ(base64_decode(base64_encode(part)), part);
  }
  EXPECT_EQ(base64_encode("\xff\xfe\xfd"), "//79");
}

TEST(Base64, RejectsNonCanonicalInput) {
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "Zg",                          // missing padding
           "Zg=",                         // short padding
           "Zm9v\r\n",                    // line break
           "Zm 9v",                       // space
           " Zm9v",                       // leading space
           "Zm9v ",                       // trailing space
           "Zm9v\t",                      // tab
           "=",                           // SMTP "empty response" marker is not base64
           "====",                        // padding only
           "Z===",                        // three pad characters
           "Zm=v",                        // padding in the middle
           "Zg==Zm9v",                    // padding before more data
           "Zh==",                        // non-zero pad bits
           "Zm9=",                        // non-zero pad bits (one pad)
           "Zm9v-_",                      // URL-safe alphabet
           "Zm9v*A==",                    // bad character
           std::string_view("Zm\0v", 4),  // NUL
           "\xc3\xa9\x41\x41",            // non-ASCII
       }) {
    EXPECT_FALSE(base64_decode(bad)) << bad;
  }
}

}  // namespace
}  // namespace sealpost::sasl
