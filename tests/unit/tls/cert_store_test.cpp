// CertStore: per-listener contexts, and reload semantics — a replaced certificate is picked
// up, a handshake begun before the reload still completes on the old one, and a broken file
// leaves the previous set in place.
#include "tls/cert_store.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <fstream>

#include "tls_test_support.hpp"

namespace sealpost::tls {
namespace {

using test::Connection;
using test::KeyType;

class CertStoreTest : public ::testing::Test {
 protected:
  CertStoreTest() {
    test::write_certificate(dir_ / "main.pem", dir_ / "main.key", KeyType::kEcdsa, "old",
                            {"mail.test"});
    test::write_certificate(dir_ / "other.pem", dir_ / "other.key", KeyType::kEcdsa, "other",
                            {"other.test"});
    config_.pki = {{"main", {dir_ / "main.pem"}, {dir_ / "main.key"}},
                   {"other", {dir_ / "other.pem"}, {dir_ / "other.key"}}};
    config_.listeners = {
        {"127.0.0.1", 465, config::TlsMode::kImplicit, config::Role::kSubmission, {"main"}},
        {"127.0.0.1", 25, config::TlsMode::kNone, config::Role::kMx, {}},
        {"127.0.0.1", 587, config::TlsMode::kStartTls, config::Role::kSubmission, {"main"}},
        {"127.0.0.1", 2525, config::TlsMode::kStartTls, config::Role::kMx, {"other", "main"}},
    };
  }

  std::string served_name(SSL_CTX* server_ctx, const std::string& sni = "") {
    Connection c = test::connect(server_ctx, client_.get(), sni);
    return handshake(c) ? test::peer_common_name(c.client.get()) : "handshake failed";
  }

  test::TempDir dir_;
  config::Config config_;
  SslCtxPtr client_ = test::client_context();
};

TEST_F(CertStoreTest, ContextsPerListener) {
  CertStore store(config_);
  ASSERT_NE(store.contexts(0), nullptr);
  EXPECT_EQ(store.contexts(1), nullptr);            // tls = "none"
  EXPECT_EQ(store.contexts(0), store.contexts(2));  // same pki list, shared
  ASSERT_NE(store.contexts(3), nullptr);
  EXPECT_EQ(store.contexts(4), nullptr);  // no such listener
  EXPECT_EQ(served_name(store.contexts(3)->default_context()), "other");
  EXPECT_EQ(served_name(store.contexts(3)->default_context(), "mail.test"), "old");
}

TEST_F(CertStoreTest, ConstructorThrowsOnBadPki) {
  config_.pki[0].keys[0] = dir_ / "other.key";
  EXPECT_THROW(CertStore{config_}, std::runtime_error);
  ERR_clear_error();
}

TEST_F(CertStoreTest, ReloadPicksUpReplacedCertificate) {
  CertStore store(config_);
  std::shared_ptr<const ServerContexts> before = store.contexts(0);
  // A connection accepted before the reload; its handshake runs after it.
  test::SslPtr in_flight(SSL_new(before->default_context()));
  before.reset();

  test::write_certificate(dir_ / "main.pem", dir_ / "main.key", KeyType::kEcdsa, "new",
                          {"mail.test"});
  EXPECT_EQ(store.reload(), "");

  Connection old_conn = test::connect(std::move(in_flight), client_.get(), "mail.test");
  ASSERT_TRUE(handshake(old_conn));
  EXPECT_EQ(test::peer_common_name(old_conn.client.get()), "old");

  EXPECT_EQ(served_name(store.contexts(0)->default_context(), "mail.test"), "new");
  EXPECT_EQ(served_name(store.contexts(3)->default_context(), "mail.test"), "new");
}

TEST_F(CertStoreTest, BrokenReloadKeepsPreviousContexts) {
  CertStore store(config_);
  std::shared_ptr<const ServerContexts> before = store.contexts(0);
  std::ofstream(dir_ / "main.pem", std::ios::trunc) << "not a certificate\n";

  std::string error = store.reload();
  EXPECT_NE(error.find("main.pem"), std::string::npos) << error;
  EXPECT_EQ(store.contexts(0), before);
  EXPECT_EQ(served_name(store.contexts(0)->default_context()), "old");
  ERR_clear_error();
}

}  // namespace
}  // namespace sealpost::tls
