// Tests for scram_secrets against RFC 7677 3 (user "user", password "pencil"). The expected
// keys were computed with Python's hashlib/hmac:
//   sp = pbkdf2_hmac('sha256', b'pencil', b64decode('W22ZaJ0SNY7soEsUEjb6gQ=='), 4096)
//   StoredKey = sha256(hmac(sp, b'Client Key')), ServerKey = hmac(sp, b'Server Key')
// and the RFC's own v= (ServerSignature) and p= (ClientProof) check them end to end.
#include "auth/scram_secrets.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace sealpost::auth {
namespace {

constexpr std::string_view kSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr std::string_view kStoredKey = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
constexpr std::string_view kServerKey = "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
constexpr std::string_view kAuthMessage =
    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kServerSignature = "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
constexpr std::string_view kClientProof = "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

std::string bytes(const std::array<unsigned char, 32>& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &n);
  return std::string(reinterpret_cast<const char*>(out), n);
}

TEST(ScramSecrets, Rfc7677Vector) {
  ScramSecrets s = derive_scram_secrets("pencil", *base64_decode(kSalt), 4096);
  EXPECT_EQ(s.iterations, 4096u);
  EXPECT_EQ(base64_encode(bytes(s.stored_key)), kStoredKey);
  EXPECT_EQ(base64_encode(bytes(s.server_key)), kServerKey);

  // What the server computes in RFC 5802 3: ServerSignature from ServerKey ...
  EXPECT_EQ(base64_encode(hmac(bytes(s.server_key), kAuthMessage)), kServerSignature);
  // ... and the check of the client's proof against StoredKey.
  std::string signature = hmac(bytes(s.stored_key), kAuthMessage);
  std::string proof = *base64_decode(kClientProof);
  std::string client_key(32, '\0');
  for (int i = 0; i < 32; ++i) client_key[i] = static_cast<char>(proof[i] ^ signature[i]);
  unsigned char stored[32];
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), 32, stored);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(stored), 32), bytes(s.stored_key));
}

TEST(ScramSecrets, FormatAndParseRoundTrip) {
  ScramSecrets s = derive_scram_secrets("pencil", *base64_decode(kSalt), 4096);
  std::string text = format_scram_secrets(s);
  EXPECT_EQ(text, "SCRAM-SHA-256:4096:" + std::string(kSalt) + ":" + std::string(kStoredKey) + ":" +
                      std::string(kServerKey));
  auto back = parse_scram_secrets(text);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(back->iterations, 4096u);
  EXPECT_EQ(back->salt, s.salt);
  EXPECT_EQ(back->stored_key, s.stored_key);
  EXPECT_EQ(back->server_key, s.server_key);
}

TEST(ScramSecrets, MakeUsesAFreshSalt) {
  ScramSecrets a = make_scram_secrets("pencil", 4096);
  ScramSecrets b = make_scram_secrets("pencil", 4096);
  EXPECT_EQ(a.salt.size(), 16u);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.stored_key, b.stored_key);
}

TEST(ScramSecrets, ParseRefusesBadText) {
  std::string keys =
      ":" + std::string(kSalt) + ":" + std::string(kStoredKey) + ":" + std::string(kServerKey);
  EXPECT_FALSE(parse_scram_secrets("SCRAM-SHA-1:4096" + keys));
  EXPECT_FALSE(parse_scram_secrets("SCRAM-SHA-256:4095" + keys));  // RFC 7677 minimum
  EXPECT_FALSE(parse_scram_secrets("SCRAM-SHA-256:04096" + keys));
  EXPECT_FALSE(parse_scram_secrets("SCRAM-SHA-256:x" + keys));
  EXPECT_FALSE(parse_scram_secrets("SCRAM-SHA-256:4096:" + std::string(kSalt)));
  EXPECT_FALSE(parse_scram_secrets("SCRAM-SHA-256:4096:" + std::string(kSalt) + ":" +
                                   std::string(kSalt) + ":" + std::string(kServerKey)));
  EXPECT_TRUE(parse_scram_secrets("SCRAM-SHA-256:4096" + keys));
}

TEST(ScramSecrets, StrictBase64) {
  EXPECT_EQ(*base64_decode(""), "");
  EXPECT_EQ(*base64_decode("Zm9v"), "foo");
  EXPECT_EQ(*base64_decode("Zm8="), "fo");
  EXPECT_EQ(*base64_decode("Zg=="), "f");
  EXPECT_FALSE(base64_decode("Zg="));
  EXPECT_FALSE(base64_decode("Zh=="));  // non-zero pad bits
  EXPECT_FALSE(base64_decode("Zm9v\n"));
  EXPECT_FALSE(base64_decode("Z=9v"));
  EXPECT_FALSE(base64_decode("Zm-_"));
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
}

}  // namespace
}  // namespace sealpost::auth
