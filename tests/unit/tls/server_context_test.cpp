// ServerContexts against real OpenSSL clients over BIO pairs: protocol and cipher floor
// (RFC 9325), ECDSA/RSA selection, SNI (RFC 6066 §3) with wildcards, renegotiation and
// compression off, resumption kept, and describe() on the result.
#include "tls/server_context.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <array>

#include "tls/session_info.hpp"
#include "tls_test_support.hpp"

namespace sealpost::tls {
namespace {

using test::Connection;
using test::KeyType;

class ServerContextTest : public ::testing::Test {
 protected:
  // RSA key generation is slow; make the certificates once for the whole suite.
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    test::write_certificate(file("a-ec.pem"), file("a-ec.key"), KeyType::kEcdsa, "a-ecdsa",
                            {"a.test", "mail.a.test"});
    test::write_certificate(file("a-rsa.pem"), file("a-rsa.key"), KeyType::kRsa, "a-rsa",
                            {"a.test", "mail.a.test"});
    test::write_certificate(file("b.pem"), file("b.key"), KeyType::kEcdsa, "b", {"B.Test"});
    test::write_certificate(file("wild.pem"), file("wild.key"), KeyType::kEcdsa, "wild",
                            {"*.wild.test"});
    test::write_certificate(file("cn.pem"), file("cn.key"), KeyType::kEcdsa, "CN.test", {});
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path file(const std::string& name) { return *dir_ / name; }

  static std::vector<config::Pki> all_pki() {
    return {
        {"a", {file("a-ec.pem"), file("a-rsa.pem")}, {file("a-ec.key"), file("a-rsa.key")}},
        {"b", {file("b.pem")}, {file("b.key")}},
        {"wild", {file("wild.pem")}, {file("wild.key")}},
        {"cn", {file("cn.pem")}, {file("cn.key")}},
        {"rsa", {file("a-rsa.pem")}, {file("a-rsa.key")}},
    };
  }

  Connection connect(const std::string& sni = "") {
    return test::connect(contexts_.default_context(), client_.get(), sni);
  }

  static test::TempDir* dir_;
  ServerContexts contexts_{all_pki(), {"a", "b", "wild", "cn"}};
  SslCtxPtr client_ = test::client_context();
};

test::TempDir* ServerContextTest::dir_ = nullptr;

TEST_F(ServerContextTest, DefaultClientGetsTls13WithEcdsa) {
  Connection c = connect();
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_key_type(c.client.get()), EVP_PKEY_EC);
  SessionInfo info = describe(c.server.get());
  EXPECT_EQ(info.version, "TLSv1.3");
  EXPECT_TRUE(info.cipher.starts_with("TLS_")) << info.cipher;
  EXPECT_GE(info.bits, 128);
  EXPECT_EQ(info.server_name, "");
}

TEST_F(ServerContextTest, RefusesTls11) {
  SslCtxPtr old_client = test::client_context();
  SSL_CTX_set_security_level(old_client.get(), 0);
  SSL_CTX_set_cipher_list(old_client.get(), "ALL:@SECLEVEL=0");
  SSL_CTX_set_min_proto_version(old_client.get(), TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(old_client.get(), TLS1_1_VERSION);

  // Control: the same client does get TLS 1.1 from an unhardened server.
  SslCtxPtr permissive = test::permissive_server_context(file("a-ec.pem"), file("a-ec.key"));
  Connection control = test::connect(permissive.get(), old_client.get());
  ASSERT_TRUE(handshake(control));
  ASSERT_EQ(describe(control.server.get()).version, "TLSv1.1");

  Connection c = test::connect(contexts_.default_context(), old_client.get());
  EXPECT_FALSE(handshake(c));
  ERR_clear_error();
}

TEST_F(ServerContextTest, RefusesTls12CiphersWithoutForwardSecrecyOrAead) {
  // RSA key exchange (no forward secrecy), CBC (no AEAD), and both at once.
  for (const char* cipher : {"AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "AES128-SHA"}) {
    SCOPED_TRACE(cipher);
    SslCtxPtr weak_client = test::client_context();
    SSL_CTX_set_max_proto_version(weak_client.get(), TLS1_2_VERSION);
    SSL_CTX_set_security_level(weak_client.get(), 0);
    ASSERT_EQ(SSL_CTX_set_cipher_list(weak_client.get(), cipher), 1);

    SslCtxPtr permissive = test::permissive_server_context(file("a-rsa.pem"), file("a-rsa.key"));
    Connection control = test::connect(permissive.get(), weak_client.get());
    ASSERT_TRUE(handshake(control));
    ASSERT_STREQ(SSL_get_cipher_name(control.server.get()), cipher);

    Connection c = test::connect(contexts_.default_context(), weak_client.get());
    EXPECT_FALSE(handshake(c));
    ERR_clear_error();
  }
}

TEST_F(ServerContextTest, AcceptsTls12EcdheEcdsaAesGcm) {
  SSL_CTX_set_max_proto_version(client_.get(), TLS1_2_VERSION);
  ASSERT_EQ(SSL_CTX_set_cipher_list(client_.get(), "ECDHE-ECDSA-AES128-GCM-SHA256"), 1);
  Connection c = connect("a.test");
  ASSERT_TRUE(handshake(c));
  SessionInfo info = describe(c.server.get());
  EXPECT_EQ(info.version, "TLSv1.2");
  EXPECT_EQ(info.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
  EXPECT_EQ(info.bits, 128);
  EXPECT_EQ(info.server_name, "a.test");
}

TEST_F(ServerContextTest, ServerPrefersAes256OverClientOrder) {
  SSL_CTX_set_max_proto_version(client_.get(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(client_.get(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384");
  Connection c = connect();
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(describe(c.server.get()).cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
}

TEST_F(ServerContextTest, RsaOnlyClientGetsRsaCertificate) {
  for (int max_version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(max_version);
    SslCtxPtr rsa_client = test::client_context();
    SSL_CTX_set_max_proto_version(rsa_client.get(), max_version);
    ASSERT_EQ(SSL_CTX_set1_sigalgs_list(rsa_client.get(),
                                        "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:RSA+SHA256"),
              1);
    Connection c = test::connect(contexts_.default_context(), rsa_client.get());
    ASSERT_TRUE(handshake(c));
    EXPECT_EQ(test::peer_key_type(c.client.get()), EVP_PKEY_RSA);
    EXPECT_EQ(test::peer_common_name(c.client.get()), "a-rsa");
  }
}

TEST_F(ServerContextTest, DefaultClientGetsEcdsaCertificate) {
  Connection c = connect("a.test");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "a-ecdsa");
}

TEST_F(ServerContextTest, SniSelectsMatchingSet) {
  Connection c = connect("b.test");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "b");
  EXPECT_EQ(describe(c.server.get()).server_name, "b.test");
  // Hardening survives the switch of SSL_CTX.
  EXPECT_EQ(SSL_get_SSL_CTX(c.server.get()), contexts_.find("b.test"));
  EXPECT_NE(SSL_get_options(c.server.get()) & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_NE(SSL_get_options(c.server.get()) & SSL_OP_NO_COMPRESSION, 0u);
}

TEST_F(ServerContextTest, SniIgnoresCase) {
  Connection c = connect("B.TEST");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "b");
}

TEST_F(ServerContextTest, SniWildcardMatchesExactlyOneLabel) {
  Connection one = connect("x.wild.test");
  ASSERT_TRUE(handshake(one));
  EXPECT_EQ(test::peer_common_name(one.client.get()), "wild");

  for (const char* name : {"a.x.wild.test", "wild.test"}) {
    SCOPED_TRACE(name);
    Connection c = connect(name);
    ASSERT_TRUE(handshake(c));
    EXPECT_EQ(test::peer_common_name(c.client.get()), "a-ecdsa");
  }
}

TEST_F(ServerContextTest, UnknownSniKeepsDefault) {
  Connection c = connect("nobody.example");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "a-ecdsa");
  EXPECT_EQ(describe(c.server.get()).server_name, "nobody.example");
}

TEST_F(ServerContextTest, CommonNameUsedWhenNoSubjectAltName) {
  Connection c = connect("cn.test");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "CN.test");
}

TEST_F(ServerContextTest, FindPrefersExactOverWildcard) {
  EXPECT_EQ(contexts_.find("mail.a.test"), contexts_.default_context());
  EXPECT_NE(contexts_.find("b.test"), nullptr);
  EXPECT_NE(contexts_.find("b.test."), nullptr);
  EXPECT_EQ(contexts_.find("b.test"), contexts_.find("B.Test"));
  EXPECT_NE(contexts_.find("y.wild.test"), nullptr);
  EXPECT_EQ(contexts_.find(".wild.test"), nullptr);
  EXPECT_EQ(contexts_.find("c.test"), nullptr);
  EXPECT_EQ(contexts_.find(""), nullptr);
}

// Client starts a TLS 1.2 renegotiation; true if it completes.
bool renegotiate(Connection& c) {
  if (SSL_renegotiate(c.client.get()) != 1) return false;
  std::array<char, 64> buf;
  for (int round = 0; round < 10; ++round) {
    int rc = SSL_do_handshake(c.client.get());
    if (rc == 1 && SSL_renegotiate_pending(c.client.get()) == 0) return true;
    int err = SSL_get_error(c.client.get(), rc);
    if (rc != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) return false;
    SSL_read(c.server.get(), buf.data(), buf.size());  // server handles the new ClientHello
  }
  return false;
}

TEST_F(ServerContextTest, RenegotiationIsRefused) {
  SSL_CTX_set_max_proto_version(client_.get(), TLS1_2_VERSION);

  // Control: a server that allows it lets the same client renegotiate.
  SslCtxPtr permissive = test::permissive_server_context(file("a-ec.pem"), file("a-ec.key"));
  SSL_CTX_set_options(permissive.get(), SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
  Connection control = test::connect(permissive.get(), client_.get());
  ASSERT_TRUE(handshake(control));
  ASSERT_TRUE(renegotiate(control));

  Connection c = connect();
  ASSERT_TRUE(handshake(c));
  EXPECT_FALSE(renegotiate(c));
  // OpenSSL 3 already refuses client-initiated renegotiation by default; the option also
  // stops server-initiated ones.
  EXPECT_NE(SSL_get_options(c.server.get()) & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_EQ(SSL_get_options(c.server.get()) & SSL_OP_ALLOW_CLIENT_RENEGOTIATION, 0u);
  ERR_clear_error();
}

TEST_F(ServerContextTest, CompressionIsOff) {
  Connection c = connect();
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(SSL_get_current_compression(c.server.get()), nullptr);
  EXPECT_NE(SSL_CTX_get_options(contexts_.default_context()) & SSL_OP_NO_COMPRESSION, 0u);
}

TEST_F(ServerContextTest, Tls13SessionResumes) {
  Connection first = connect("a.test");
  ASSERT_TRUE(handshake(first));
  std::array<char, 64> buf;
  SSL_read(first.client.get(), buf.data(), buf.size());  // takes in the session tickets
  SSL_SESSION* session = SSL_get1_session(first.client.get());
  ASSERT_NE(session, nullptr);
  ASSERT_EQ(SSL_SESSION_is_resumable(session), 1);

  Connection second = connect("a.test");
  SSL_set_session(second.client.get(), session);
  SSL_SESSION_free(session);
  ASSERT_TRUE(handshake(second));
  EXPECT_EQ(SSL_session_reused(second.server.get()), 1);
  ERR_clear_error();
}

TEST_F(ServerContextTest, HandshakeOutlivingContextsKeepsDefault) {
  auto contexts = std::make_unique<ServerContexts>(all_pki(), std::vector<std::string>{"a", "b"});
  test::SslPtr server(SSL_new(contexts->default_context()));
  contexts.reset();  // as after a reload: only the SSL holds its SSL_CTX now
  Connection c = test::connect(std::move(server), client_.get(), "b.test");
  ASSERT_TRUE(handshake(c));
  EXPECT_EQ(test::peer_common_name(c.client.get()), "a-ecdsa");
}

TEST_F(ServerContextTest, ErrorsNameTheFile) {
  auto pki = all_pki();
  pki[1].keys[0] = file("wild.key");  // b's certificate with wild's key
  try {
    ServerContexts bad(pki, {"b"});
    FAIL() << "mismatched key accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("wild.key"), std::string::npos) << e.what();
  }

  pki = all_pki();
  pki[1].certs[0] = file("missing.pem");
  try {
    ServerContexts bad(pki, {"b"});
    FAIL() << "missing certificate accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.pem"), std::string::npos) << e.what();
  }
  ERR_clear_error();
}

TEST_F(ServerContextTest, RejectsUnknownOrMissingPki) {
  EXPECT_THROW(ServerContexts(all_pki(), {"a", "nope"}), std::runtime_error);
  EXPECT_THROW(ServerContexts(all_pki(), {}), std::runtime_error);
  auto pki = all_pki();
  pki[1].keys.clear();
  EXPECT_THROW(ServerContexts(pki, {"b"}), std::runtime_error);
}

}  // namespace
}  // namespace sealpost::tls
