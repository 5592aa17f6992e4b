// Tests for password_hash: yescrypt round trip, the accepted and refused schemes, locked
// accounts, and password_problem's UTF-8 and control-character checks.
#include "auth/password_hash.hpp"

#include <gtest/gtest.h>

namespace sealpost::auth {
namespace {

// Computed with Python's crypt module (libxcrypt 4.4.33) for the password "pencil".
constexpr std::string_view kYescrypt =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$rPeawue/nS.5CE6nTU9GpACAbn46u5ZGm.W6wf1Q.RD";
constexpr std::string_view kScrypt =
    "$7$CU..../....abcdefghijklmnop$YQ2oaZEnpWxdXu7G5qsgmb.PyX550yQLGwuiZUwu9J9";
constexpr std::string_view kSha512 =
    "$6$saltsalt$rD9fW1BwIrjB90WCgCTdIQc3phTBhf04I6Iw/XlgKD9E9aEbzqGZipjiFxGo/4wWXDA6jV6/"
    "vZO.kKdDSfUJb0";
constexpr std::string_view kMd5 = "$1$saltsalt$wCrc3hcrR95SV83Xh8Z.41";
constexpr std::string_view kBcrypt = "$2b$05$abcdefghijklmnopqrstuu680Yiaj5hFUaJTH/rTAcbA2PQEGfiZu";
constexpr std::string_view kDes = "abJ32bJMdTsnY";

TEST(PasswordHash, NewHashesAreYescryptAndVerify) {
  std::string hash = hash_password("correct horse");
  EXPECT_TRUE(hash.starts_with("$y$")) << hash;
  EXPECT_EQ(classify_hash(hash), HashKind::kUsable);
  EXPECT_TRUE(verify_password("correct horse", hash));
  EXPECT_FALSE(verify_password("correct horsE", hash));
  EXPECT_FALSE(verify_password("", hash));
  EXPECT_NE(hash_password("correct horse"), hash);  // a fresh salt every time
}

TEST(PasswordHash, KnownYescryptAndScrypt) {
  EXPECT_TRUE(verify_password("pencil", kYescrypt));
  EXPECT_FALSE(verify_password("pencil ", kYescrypt));
  EXPECT_TRUE(verify_password("pencil", kScrypt));
  EXPECT_FALSE(verify_password("Pencil", kScrypt));
}

TEST(PasswordHash, WeakSchemesAreRefusedEvenWithTheRightPassword) {
  for (std::string_view hash : {kSha512, kMd5, kBcrypt, kDes}) {
    EXPECT_EQ(classify_hash(hash), HashKind::kUnsupported) << hash;
    EXPECT_FALSE(verify_password("pencil", hash)) << hash;
  }
  EXPECT_EQ(classify_hash("$y$garbage"), HashKind::kUnsupported);
  EXPECT_EQ(classify_hash("plaintext"), HashKind::kUnsupported);
  EXPECT_EQ(classify_hash("$y$j9T$F5Jx5fExrKuPp53xLKQ..1$"), HashKind::kUnsupported);  // setting
  EXPECT_EQ(classify_hash("$y$j9T$F5Jx5fExrKuPp53xLKQ..1$ab cd"), HashKind::kUnsupported);
  // libxcrypt 4.4 has no argon2; where a newer one does, classify_hash accepts it.
  EXPECT_NE(classify_hash("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$aGFzaA"), HashKind::kLocked);
}

TEST(PasswordHash, LockedAccountsNeverVerify) {
  for (std::string_view hash : {"", "*", "!", "!!"}) {
    EXPECT_EQ(classify_hash(hash), HashKind::kLocked) << hash;
    EXPECT_FALSE(verify_password("", hash));
    EXPECT_FALSE(verify_password("pencil", hash));
  }
  std::string disabled = "!" + std::string(kYescrypt);
  EXPECT_EQ(classify_hash(disabled), HashKind::kLocked);
  EXPECT_FALSE(verify_password("pencil", disabled));
}

TEST(PasswordHash, NulBytes) {
  EXPECT_THROW(hash_password(std::string_view("a\0b", 3)), std::invalid_argument);
  EXPECT_FALSE(verify_password(std::string_view("pencil\0x", 8), kYescrypt));
}

TEST(PasswordHash, PasswordProblem) {
  EXPECT_FALSE(password_problem("pencil").has_value());
  EXPECT_FALSE(password_problem("p\xc3\xa4ssw\xc3\xb6rd \xf0\x9f\x94\x91").has_value());
  EXPECT_TRUE(password_problem("").has_value());
  EXPECT_TRUE(password_problem("pencil\r").has_value());
  EXPECT_TRUE(password_problem("a\tb").has_value());
  EXPECT_TRUE(password_problem("\x7f").has_value());
  EXPECT_TRUE(password_problem("\xc2\x85").has_value());          // C1 control NEL
  EXPECT_TRUE(password_problem("\xc3").has_value());              // truncated
  EXPECT_TRUE(password_problem("\xc0\xaf").has_value());          // overlong
  EXPECT_TRUE(password_problem("\xed\xa0\x80").has_value());      // surrogate
  EXPECT_TRUE(password_problem("\xf4\x90\x80\x80").has_value());  // > U+10FFFF
  EXPECT_TRUE(password_problem("\x80").has_value());
  EXPECT_TRUE(password_problem(std::string(1025, 'a')).has_value());
}

}  // namespace
}  // namespace sealpost::auth
