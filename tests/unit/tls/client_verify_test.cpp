// Client-side verification over in-memory handshakes (BIO pairs) with certificates made here:
// PKIX with host names and IP addresses, untrusted and expired chains, DANE-EE and DANE-TA
// (RFC 7672: usages 0/1 ignored, DANE-EE without name or date checks), enforce mode, SNI,
// the certificate description, and the "U S M HEX" parser.
#include "tls/client_verify.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <regex>
#include <stdexcept>

#include "tls_test_support.hpp"

namespace sealpost::tls {
namespace {

using test::Connection;
using test::TempDir;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

struct Issued {
  KeyPtr key;
  CertPtr cert;
};

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A P-256 certificate for CN=`cn`: a CA when `issuer` is null (self-signed), else a leaf
// with the given subjectAltName ("DNS:a,IP:127.0.0.1") signed by `issuer`. Valid from
// now+`from` to now+`to` seconds.
Issued issue(const std::string& cn, const Issued* issuer, const std::string& san, long from = -60,
             long to = 3600, long serial = 1) {
  Issued out{KeyPtr(EVP_EC_gen("P-256")), CertPtr(X509_new())};
  X509* x = out.cert.get();
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer ? issuer->cert.get() : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  X509_gmtime_adj(X509_getm_notBefore(x), from);
  X509_gmtime_adj(X509_getm_notAfter(x), to);
  X509_set_pubkey(x, out.key.get());
  if (issuer == nullptr) {
    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, signer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, signer, NID_ext_key_usage, "serverAuth");
    if (!san.empty()) add_ext(x, signer, NID_subject_alt_name, san);
  }
  EVP_PKEY* signing_key = issuer ? issuer->key.get() : out.key.get();
  if (X509_sign(x, signing_key, EVP_sha256()) <= 0) throw std::runtime_error("X509_sign");
  return out;
}

void write_file(const std::filesystem::path& path, auto write) {
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(write(f), 1);
  std::fclose(f);
}

std::vector<std::uint8_t> sha256(const std::vector<unsigned char>& der) {
  std::vector<std::uint8_t> md(32);
  unsigned int len = 0;
  EVP_Digest(der.data(), der.size(), md.data(), &len, EVP_sha256(), nullptr);
  return md;
}

std::vector<unsigned char> spki_der(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  std::vector<unsigned char> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::vector<unsigned char> cert_der(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::vector<unsigned char> out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::string hex(const std::vector<std::uint8_t>& data) {
  return Tlsa{0, 0, 0, data}.to_text().substr(6);
}

class ClientVerifyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    ca_ = new Issued(issue("Test CA", nullptr, ""));
    other_ca_ = new Issued(issue("Other CA", nullptr, ""));
    leaf_ = new Issued(issue("mail.test", ca_, "DNS:mail.test,DNS:*.wild.test,IP:127.0.0.1"));
    expired_ = new Issued(issue("old.test", ca_, "DNS:old.test", -7200, -3600, 2));
    write_file(file("ca.pem"), [](FILE* f) { return PEM_write_X509(f, ca_->cert.get()); });
    write_file(file("other-ca.pem"),
               [](FILE* f) { return PEM_write_X509(f, other_ca_->cert.get()); });
    write_server(*leaf_, "leaf");
    write_server(*expired_, "expired");
  }
  static void TearDownTestSuite() {
    delete leaf_;
    delete expired_;
    delete ca_;
    delete other_ca_;
    delete dir_;
  }
  static std::filesystem::path file(const std::string& name) { return *dir_ / name; }

  // Leaf + CA in the chain file, as a server would send them.
  static void write_server(const Issued& leaf, const std::string& stem) {
    write_file(file(stem + ".pem"), [&](FILE* f) {
      return PEM_write_X509(f, leaf.cert.get()) & PEM_write_X509(f, ca_->cert.get());
    });
    write_file(file(stem + ".key"), [&](FILE* f) {
      return PEM_write_PrivateKey(f, leaf.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
  }

  // Handshake against server `stem` with a client built from `options` and `peer`.
  PeerResult run(const std::string& stem, ClientOptions options, const PeerReference& peer,
                 bool expect_handshake = true) {
    auto ctx = make_client_context(options);
    EXPECT_TRUE(ctx.has_value()) << ctx.error();
    if (!ctx) return {};
    server_ = test::permissive_server_context(file(stem + ".pem"), file(stem + ".key"));
    conn_ = test::connect(server_.get(), ctx->get());
    auto setup = configure_peer(conn_.client.get(), peer);
    EXPECT_TRUE(setup.has_value()) << setup.error();
    if (setup) setup_ = *setup;
    EXPECT_EQ(test::handshake(conn_), expect_handshake);
    return examine_peer(conn_.client.get());
  }

  static Tlsa leaf_spki_tlsa(std::uint8_t usage = 3) {
    return {usage, 1, 1, sha256(spki_der(leaf_->cert.get()))};
  }

  static TempDir* dir_;
  static Issued* ca_;
  static Issued* other_ca_;
  static Issued* leaf_;
  static Issued* expired_;
  SslCtxPtr server_;
  Connection conn_;
  PeerSetup setup_;
};

TempDir* ClientVerifyTest::dir_ = nullptr;
Issued* ClientVerifyTest::ca_ = nullptr;
Issued* ClientVerifyTest::other_ca_ = nullptr;
Issued* ClientVerifyTest::leaf_ = nullptr;
Issued* ClientVerifyTest::expired_ = nullptr;

ClientOptions trusting(const std::string& ca_file, bool enforce = false) {
  return ClientOptions{ca_file, enforce};
}

TEST_F(ClientVerifyTest, PkixVerifiesNameAndReportsSession) {
  PeerResult r = run("leaf", trusting(file("ca.pem")), {"mail.test", "mail.test", {}});
  EXPECT_TRUE(r.handshake_done);
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(r.method, "pkix");
  EXPECT_EQ(r.reason, "");
  EXPECT_EQ(r.error_depth, -1);
  EXPECT_FALSE(r.matched_tlsa.has_value());
  EXPECT_EQ(r.version, "TLSv1.3");
  EXPECT_TRUE(r.cipher.starts_with("TLS_")) << r.cipher;
  EXPECT_EQ(r.group, "x25519");  // OpenSSL's first default group
  ASSERT_EQ(r.chain.size(), 2u);
  EXPECT_EQ(r.chain[0].subject, "CN=mail.test");
  EXPECT_EQ(r.chain[0].issuer, "CN=Test CA");
  EXPECT_EQ(r.chain[1].subject, "CN=Test CA");
  EXPECT_EQ(SSL_get_servername(conn_.server.get(), TLSEXT_NAMETYPE_host_name),
            std::string("mail.test"));
  EXPECT_FALSE(setup_.dane);
}

TEST_F(ClientVerifyTest, DescribesCertificate) {
  PeerResult r = run("leaf", trusting(file("ca.pem")), {"mail.test", "mail.test", {}});
  ASSERT_FALSE(r.chain.empty());
  const CertificateInfo& c = r.chain[0];
  EXPECT_EQ(c.subject_alt_names,
            (std::vector<std::string>{"DNS:mail.test", "DNS:*.wild.test", "IP:127.0.0.1"}));
  EXPECT_EQ(c.serial, "01");
  std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)");
  EXPECT_TRUE(std::regex_match(c.not_before, iso)) << c.not_before;
  EXPECT_TRUE(std::regex_match(c.not_after, iso)) << c.not_after;
  EXPECT_LT(c.not_before, c.not_after);
  EXPECT_EQ(c.key, "EC 256 prime256v1");
  EXPECT_EQ(c.signature, "ecdsa-with-SHA256");
  EXPECT_EQ(c.spki_sha256, hex(sha256(spki_der(leaf_->cert.get()))));
  EXPECT_EQ(c.cert_sha256, hex(sha256(cert_der(leaf_->cert.get()))));
  EXPECT_EQ(c.spki_sha256.size(), 64u);
  EXPECT_NE(c.spki_sha256, r.chain[1].spki_sha256);
}

TEST_F(ClientVerifyTest, WildcardMatchesOneLabel) {
  EXPECT_TRUE(run("leaf", trusting(file("ca.pem")), {"a.wild.test", "a.wild.test", {}}).verified);
  PeerResult r = run("leaf", trusting(file("ca.pem")), {"a.b.wild.test", "", {}});
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.reason, "hostname mismatch");
}

TEST_F(ClientVerifyTest, WrongNameIsReportedWithDepth) {
  PeerResult r = run("leaf", trusting(file("ca.pem")), {"wrong.test", "wrong.test", {}});
  EXPECT_TRUE(r.handshake_done);  // not enforced: the handshake completes, the report says no
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.method, "");
  EXPECT_EQ(r.verify_error, X509_V_ERR_HOSTNAME_MISMATCH);
  EXPECT_EQ(r.reason, "hostname mismatch");
  EXPECT_EQ(r.error_depth, 0);
  EXPECT_EQ(r.chain.size(), 2u);
}

TEST_F(ClientVerifyTest, IpReferenceUsesIpSanAndSendsNoSni) {
  PeerResult r = run("leaf", trusting(file("ca.pem")), {"127.0.0.1", "", {}});
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(SSL_get_servername(conn_.server.get(), TLSEXT_NAMETYPE_host_name), nullptr);
  r = run("leaf", trusting(file("ca.pem")), {"127.0.0.2", "", {}});
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.verify_error, X509_V_ERR_IP_ADDRESS_MISMATCH);
}

TEST_F(ClientVerifyTest, IpLiteralIsNeverSni) {
  auto ctx = make_client_context({});
  ASSERT_TRUE(ctx.has_value());
  test::SslPtr ssl(SSL_new(ctx->get()));
  auto setup = configure_peer(ssl.get(), {"mail.test", "192.0.2.1", {}});
  ASSERT_FALSE(setup.has_value());
  EXPECT_NE(setup.error().find("RFC 6066"), std::string::npos);
}

TEST_F(ClientVerifyTest, UntrustedIssuer) {
  PeerResult r = run("leaf", trusting(file("other-ca.pem")), {"mail.test", "mail.test", {}});
  EXPECT_FALSE(r.verified);
  // The server sends its CA too: OpenSSL sees a self-signed root it does not trust.
  EXPECT_EQ(r.verify_error, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN);
  EXPECT_EQ(r.error_depth, 1);
  EXPECT_EQ(r.reason, X509_verify_cert_error_string(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN));
}

TEST_F(ClientVerifyTest, ExpiredLeaf) {
  PeerResult r = run("expired", trusting(file("ca.pem")), {"old.test", "old.test", {}});
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.verify_error, X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_EQ(r.reason, "certificate has expired");
  EXPECT_EQ(r.error_depth, 0);
}

TEST_F(ClientVerifyTest, EnforcedFailureAbortsButIsExplained) {
  PeerResult r = run("leaf", trusting(file("ca.pem"), true), {"wrong.test", "wrong.test", {}},
                     /*expect_handshake=*/false);
  EXPECT_FALSE(r.handshake_done);
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.reason, "hostname mismatch");
  EXPECT_EQ(r.error_depth, 0);
  EXPECT_EQ(r.version, "");
  EXPECT_EQ(r.chain.size(), 2u);  // described even though refused
  ERR_clear_error();
  EXPECT_TRUE(run("leaf", trusting(file("ca.pem"), true), {"mail.test", "", {}}).verified);
}

TEST_F(ClientVerifyTest, DaneEeIgnoresNameTrustAndDates) {
  // Untrusted CA, wrong name: only the TLSA record vouches for the key.
  PeerResult r =
      run("leaf", trusting(file("other-ca.pem")), {"wrong.test", "wrong.test", {leaf_spki_tlsa()}});
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(r.method, "dane-ee");
  ASSERT_TRUE(r.matched_tlsa.has_value());
  EXPECT_EQ(*r.matched_tlsa, leaf_spki_tlsa());
  EXPECT_EQ(r.matched_depth, 0);
  EXPECT_TRUE(setup_.dane);
  EXPECT_EQ(setup_.tlsa_usable, 1u);

  Tlsa expired{3, 0, 1, sha256(cert_der(expired_->cert.get()))};
  r = run("expired", trusting(file("other-ca.pem")), {"other.test", "other.test", {expired}});
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(r.method, "dane-ee");
}

TEST_F(ClientVerifyTest, DaneEeByIpReferenceSendsNoSni) {
  PeerResult r = run("leaf", trusting(file("other-ca.pem")), {"127.0.0.9", "", {leaf_spki_tlsa()}});
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(SSL_get_servername(conn_.server.get(), TLSEXT_NAMETYPE_host_name), nullptr);
}

TEST_F(ClientVerifyTest, DaneNoMatchFailsEvenWithTrustedPkix) {
  Tlsa wrong = leaf_spki_tlsa();
  wrong.data[0] ^= 0xff;
  PeerResult r = run("leaf", trusting(file("ca.pem")), {"mail.test", "mail.test", {wrong}});
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.verify_error, X509_V_ERR_DANE_NO_MATCH);
  EXPECT_EQ(r.reason, X509_verify_cert_error_string(X509_V_ERR_DANE_NO_MATCH));
  EXPECT_FALSE(r.matched_tlsa.has_value());
}

TEST_F(ClientVerifyTest, DaneTaChecksNameAndMatchesIssuer) {
  Tlsa ta{2, 1, 1, sha256(spki_der(ca_->cert.get()))};
  PeerResult r = run("leaf", trusting(file("other-ca.pem")), {"mail.test", "mail.test", {ta}});
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(r.method, "dane-ta");
  EXPECT_EQ(r.matched_depth, 1);
  ASSERT_TRUE(r.matched_tlsa.has_value());
  EXPECT_EQ(r.matched_tlsa->usage, 2);

  r = run("leaf", trusting(file("other-ca.pem")), {"wrong.test", "wrong.test", {ta}});
  EXPECT_FALSE(r.verified);
  EXPECT_EQ(r.reason, "hostname mismatch");
}

TEST_F(ClientVerifyTest, PkixUsagesAreIgnored) {
  // RFC 7672 §3.1.3: a 1 1 1 record naming the right key does not count for SMTP...
  PeerResult r = run("leaf", trusting(file("other-ca.pem")),
                     {"mail.test", "mail.test", {leaf_spki_tlsa(1), leaf_spki_tlsa(0)}});
  EXPECT_FALSE(setup_.dane);
  EXPECT_EQ(setup_.tlsa_ignored, 2u);
  EXPECT_FALSE(r.verified);  // ...so PKIX decides, and the issuer is not trusted
  EXPECT_EQ(r.method, "");
  // ...and with a trusted CA it verifies by PKIX, not by the record.
  r = run("leaf", trusting(file("ca.pem")), {"mail.test", "mail.test", {leaf_spki_tlsa(1)}});
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(r.method, "pkix");
}

TEST_F(ClientVerifyTest, UnsupportedRecordsAreUnusableNotFatal) {
  Tlsa odd_selector = leaf_spki_tlsa();
  odd_selector.selector = 7;
  Tlsa short_hash{3, 1, 1, {1, 2, 3}};
  PeerResult r = run("leaf", trusting(file("ca.pem")),
                     {"mail.test", "mail.test", {odd_selector, short_hash, leaf_spki_tlsa()}});
  EXPECT_EQ(setup_.tlsa_usable, 1u);
  EXPECT_EQ(setup_.tlsa_ignored, 2u);
  EXPECT_TRUE(r.verified) << r.reason;
  EXPECT_EQ(r.method, "dane-ee");
}

TEST_F(ClientVerifyTest, BadCaFileIsAnError) {
  auto ctx = make_client_context({(*dir_ / "missing.pem").string(), false});
  ASSERT_FALSE(ctx.has_value());
  EXPECT_NE(ctx.error().find("missing.pem"), std::string::npos) << ctx.error();
  write_file(file("empty.pem"), [](FILE* f) { return std::fputs("not a certificate\n", f) >= 0; });
  EXPECT_FALSE(make_client_context({file("empty.pem").string(), false}).has_value());
  EXPECT_TRUE(make_client_context({}).has_value());  // the system store
}

TEST(IsIpLiteral, AddressesButNotNamesOrBrackets) {
  EXPECT_TRUE(is_ip_literal("192.0.2.1"));
  EXPECT_TRUE(is_ip_literal("2001:db8::1"));
  EXPECT_FALSE(is_ip_literal("[2001:db8::1]"));
  EXPECT_FALSE(is_ip_literal("mail.test"));
  EXPECT_FALSE(is_ip_literal(""));
}

TEST(ParseTlsa, AcceptsPresentationForms) {
  auto r = parse_tlsa("3 1 1 " + std::string(64, 'A'));
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->usage, 3);
  EXPECT_EQ(r->selector, 1);
  EXPECT_EQ(r->matching_type, 1);
  EXPECT_EQ(r->data, std::vector<std::uint8_t>(32, 0xaa));
  EXPECT_EQ(r->to_text(), "3 1 1 " + std::string(64, 'a'));
  // dig splits long hex into groups; tabs and extra blanks are fine.
  auto split = parse_tlsa("  2\t0 1 " + std::string(32, 'b') + " " + std::string(32, 'B') + " ");
  ASSERT_TRUE(split.has_value()) << split.error();
  EXPECT_EQ(split->data, std::vector<std::uint8_t>(32, 0xbb));
  auto full = parse_tlsa("3 0 0 3082");  // matching type 0: any length
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->data, (std::vector<std::uint8_t>{0x30, 0x82}));
  EXPECT_TRUE(parse_tlsa("3 1 2 " + std::string(128, '0')).has_value());
  EXPECT_TRUE(parse_tlsa("255 255 255 00").has_value());  // unknown values: unusable later
}

TEST(ParseTlsa, RefusesMalformed) {
  for (const std::string& bad : std::vector<std::string>{
           "", "3 1 1", "3 1 x 00", "256 1 1 00", "-1 1 1 00", "3 1 1 0", "3 1 1 zz", "3 1 1 0011",
           "3 1 2 " + std::string(64, '0'), "3.0 1 1 00", "3 1 1 " + std::string(63, '0') + "g"}) {
    auto r = parse_tlsa(bad);
    EXPECT_FALSE(r.has_value()) << bad;
    if (!r) {
      EXPECT_FALSE(r.error().empty());
    }
  }
}

}  // namespace
}  // namespace sealpost::tls
