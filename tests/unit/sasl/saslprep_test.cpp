// Reduced SASLprep: UTF-8 well-formedness and control refusal; the SCRAM saslname escapes.
#include "sasl/saslprep.hpp"

#include <gtest/gtest.h>

#include "sasl/scram_keys.hpp"
#include "sasl/scram_message.hpp"

namespace sealpost::sasl {
namespace {

TEST(Saslprep, AcceptsOrdinaryAndUnicodeNames) {
  EXPECT_TRUE(acceptable_sasl_string("alice", 255));
  EXPECT_TRUE(acceptable_sasl_string("j\xc3\xb6rg@example.org", 255));  // jörg
  EXPECT_TRUE(acceptable_sasl_string("\xf0\x9f\x94\x91 key", 255));     // 4-byte sequence
  EXPECT_TRUE(acceptable_sasl_string("pass word", 255));
}

TEST(Saslprep, RefusesControlsBadUtf8AndLimits) {
  EXPECT_FALSE(acceptable_sasl_string("", 255));
  EXPECT_FALSE(acceptable_sasl_string(std::string(256, 'a'), 255));
  EXPECT_TRUE(acceptable_sasl_string(std::string(255, 'a'), 255));
  for (std::string_view bad : {
           std::string_view("a\0b", 3), std::string_view("a\tb"), std::string_view("a\r\nb"),
           std::string_view("a\x7f"),
           std::string_view("a\xc2\x85"),         // U+0085 NEL (C1)
           std::string_view("\xc0\xaf"),          // overlong '/'
           std::string_view("\xed\xa0\x80"),      // surrogate
           std::string_view("\xf4\x90\x80\x80"),  // > U+10FFFF
           std::string_view("\xc3"),              // truncated
           std::string_view("\x80"),              // lone continuation
       }) {
    EXPECT_FALSE(acceptable_sasl_string(bad, 255)) << testing::PrintToString(bad);
  }
}

TEST(Saslprep, ScramKeysRefuseControlCharacterPasswords) {
  EXPECT_TRUE(derive_scram_keys("pencil", "salt", 4096));
  EXPECT_FALSE(derive_scram_keys("pen\ncil", "salt", 4096));
  EXPECT_FALSE(derive_scram_keys("", "salt", 4096));
  EXPECT_FALSE(derive_scram_keys("pencil", "", 4096));
  EXPECT_FALSE(derive_scram_keys("pencil", "salt", 0));
}

TEST(Saslname, EscapesRoundTrip) {
  EXPECT_EQ(scram::encode_saslname("a,b=c"), "a=2Cb=3Dc");
  EXPECT_EQ(scram::decode_saslname("a=2Cb=3Dc"), "a,b=c");
  EXPECT_EQ(scram::decode_saslname("user"), "user");
  for (std::string_view bad : {"", "a=2c", "a=", "a=3", "a=41", "a,b", "=2", "a\x01"}) {
    EXPECT_FALSE(scram::decode_saslname(bad)) << bad;
  }
}

}  // namespace
}  // namespace sealpost::sasl
