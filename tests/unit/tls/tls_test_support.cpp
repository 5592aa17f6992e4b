// Implements the tls test helpers: certificate generation and BIO-pair handshakes.
// Certificates here are deliberately minimal; ensure_self_signed has its own tests.
#include "tls_test_support.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <stdexcept>

namespace sealpost::tls::test {
namespace {

[[noreturn]] void fail(const std::string& what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error(what + ": " + buf);
}

void write_pem(const std::filesystem::path& path, auto write) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) throw std::runtime_error("cannot open " + path.string());
  int ok = write(f);
  std::fclose(f);
  if (ok != 1) fail("writing " + path.string());
}

bool wants_io(SSL* ssl, int rc) {
  int err = SSL_get_error(ssl, rc);
  return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sealpost-tls-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_certificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                       KeyType type, const std::string& common_name,
                       const std::vector<std::string>& dns_names) {
  EVP_PKEY* pkey = type == KeyType::kEcdsa ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
  if (pkey == nullptr) fail("key generation");
  X509* x = X509_new();
  X509_NAME* name = X509_get_subject_name(x);
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(x, name);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pkey);
  if (!dns_names.empty()) {
    std::string san;
    for (const auto& n : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
    if (ext == nullptr) fail("subjectAltName");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, pkey, EVP_sha256()) <= 0) fail("X509_sign");
  write_pem(cert, [&](FILE* f) { return PEM_write_X509(f, x); });
  write_pem(key, [&](FILE* f) {
    return PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  });
  X509_free(x);
  EVP_PKEY_free(pkey);
}

SslCtxPtr client_context() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  return ctx;
}

SslCtxPtr permissive_server_context(const std::filesystem::path& cert,
                                    const std::filesystem::path& key) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_security_level(ctx.get(), 0);
  SSL_CTX_set_min_proto_version(ctx.get(), 0);
  SSL_CTX_set_cipher_list(ctx.get(), "ALL:@SECLEVEL=0");
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    fail("permissive server");
  }
  return ctx;
}

Connection connect(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& sni) {
  return connect(SslPtr(SSL_new(server_ctx)), client_ctx, sni);
}

Connection connect(SslPtr server, SSL_CTX* client_ctx, const std::string& sni) {
  Connection c{SslPtr(SSL_new(client_ctx)), std::move(server)};
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  if (!c.client || !c.server || BIO_new_bio_pair(&client_bio, 0, &server_bio, 0) != 1) {
    fail("connect");
  }
  SSL_set_bio(c.client.get(), client_bio, client_bio);
  SSL_set_bio(c.server.get(), server_bio, server_bio);
  SSL_set_connect_state(c.client.get());
  SSL_set_accept_state(c.server.get());
  if (!sni.empty()) SSL_set_tlsext_host_name(c.client.get(), sni.c_str());
  return c;
}

bool handshake(Connection& c) {
  for (int round = 0; round < 50; ++round) {
    int client_rc = SSL_do_handshake(c.client.get());
    if (client_rc <= 0 && !wants_io(c.client.get(), client_rc)) return false;
    int server_rc = SSL_do_handshake(c.server.get());
    if (server_rc <= 0 && !wants_io(c.server.get(), server_rc)) return false;
    if (client_rc == 1 && server_rc == 1) return true;
  }
  return false;
}

std::string peer_common_name(const SSL* client) {
  X509* peer = SSL_get0_peer_certificate(client);
  if (peer == nullptr) return "";
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, buf, sizeof buf);
  return buf;
}

int peer_key_type(const SSL* client) {
  X509* peer = SSL_get0_peer_certificate(client);
  return peer == nullptr ? EVP_PKEY_NONE : EVP_PKEY_get_base_id(X509_get0_pubkey(peer));
}

}  // namespace sealpost::tls::test
