// ensure_self_signed: the generated certificate's profile (SANs, key usage, validity,
// SHA-256, 128-bit serial), the 0600 key and 0700 directory, idempotence, and that
// ServerContexts accepts the result.
#include "tls/self_signed.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "tls/server_context.hpp"
#include "tls_test_support.hpp"

namespace sealpost::tls {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

X509* read_cert(const std::filesystem::path& p) {
  FILE* f = std::fopen(p.c_str(), "r");
  if (f == nullptr) return nullptr;
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return x;
}

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

std::vector<std::string> subject_alt_names(X509* x) {
  std::vector<std::string> out;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(sans, i);
    if (gen->type == GEN_DNS) {
      out.push_back(
          "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gen->d.dNSName)),
                               ASN1_STRING_length(gen->d.dNSName)));
    } else if (gen->type == GEN_IPADD) {
      // Loopback only: 127.0.0.1 is 4 octets, ::1 is 15 zeros and a one.
      const unsigned char* b = ASN1_STRING_get0_data(gen->d.iPAddress);
      int len = ASN1_STRING_length(gen->d.iPAddress);
      bool v4 = len == 4 && b[0] == 127 && b[1] == 0 && b[2] == 0 && b[3] == 1;
      bool v6 = len == 16 && b[15] == 1 && std::all_of(b, b + 15, [](int c) { return c == 0; });
      out.push_back(v4 ? "IP:127.0.0.1" : v6 ? "IP:::1" : "IP:other");
    }
  }
  GENERAL_NAMES_free(sans);
  return out;
}

class SelfSignedTest : public ::testing::Test {
 protected:
  test::TempDir dir_;
  std::filesystem::path cert_ = dir_ / "tls" / "cert.pem";
  std::filesystem::path key_ = dir_ / "tls" / "key.pem";
};

TEST_F(SelfSignedTest, CreatesCertificateWithDevProfile) {
  ensure_self_signed(cert_, key_, "mail.example.test");
  ASSERT_TRUE(std::filesystem::exists(cert_));
  ASSERT_TRUE(std::filesystem::exists(key_));
  EXPECT_EQ(mode_of(key_), 0600u);
  EXPECT_EQ(mode_of(dir_ / "tls"), 0700u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "tls" / "key.pem.tmp"));

  X509* x = read_cert(cert_);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(X509_get_version(x), X509_VERSION_3);
  EXPECT_EQ(subject_alt_names(x),
            (std::vector<std::string>{"DNS:mail.example.test", "DNS:localhost", "IP:127.0.0.1",
                                      "IP:::1"}));
  EXPECT_EQ(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(x)), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(x)), 256);

  // basicConstraints CA:FALSE, keyUsage digitalSignature only, extendedKeyUsage serverAuth.
  EXPECT_EQ(X509_check_ca(x), 0);
  EXPECT_EQ(X509_get_key_usage(x), static_cast<uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_extended_key_usage(x), static_cast<uint32_t>(XKU_SSL_SERVER));
  EXPECT_EQ(X509_check_host(x, "mail.example.test", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(x, "::1", 0), 1);

  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr);
  EXPECT_GT(BN_num_bits(serial), 100);  // 127 random bits; a leading zero run is unlikely
  EXPECT_LE(BN_num_bits(serial), 127);
  BN_free(serial);

  int days = 0, seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
  EXPECT_EQ(days, 365);
  X509_free(x);
}

TEST_F(SelfSignedTest, SecondCallIsNoOp) {
  ensure_self_signed(cert_, key_, "mail.example.test");
  std::string cert = slurp(cert_), key = slurp(key_);
  auto mtime = std::filesystem::last_write_time(key_);
  ensure_self_signed(cert_, key_, "other.example.test");
  EXPECT_EQ(slurp(cert_), cert);
  EXPECT_EQ(slurp(key_), key);
  EXPECT_EQ(std::filesystem::last_write_time(key_), mtime);
}

TEST_F(SelfSignedTest, RegeneratesBothWhenOneIsMissing) {
  ensure_self_signed(cert_, key_, "mail.example.test");
  std::string cert = slurp(cert_);
  std::filesystem::remove(key_);
  ensure_self_signed(cert_, key_, "mail.example.test");
  EXPECT_NE(slurp(cert_), cert);
  EXPECT_EQ(mode_of(key_), 0600u);
}

TEST_F(SelfSignedTest, ServerContextsAcceptIt) {
  ensure_self_signed(cert_, key_, "localhost");
  ServerContexts contexts({{"dev", {cert_}, {key_}}}, {"dev"});
  EXPECT_EQ(contexts.find("localhost"), contexts.default_context());
  SslCtxPtr client = test::client_context();
  test::Connection c = test::connect(contexts.default_context(), client.get(), "localhost");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "localhost");
}

}  // namespace
}  // namespace sealpost::tls
