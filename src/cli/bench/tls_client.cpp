// Client SSL_CTX. Resumption stores sessions only through the new-session callback into the
// connection's SessionSlot (no internal cache: each worker resumes its own session).
#include "cli/bench/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <asio/ip/address.hpp>
#include <stdexcept>

namespace sealpost::bench {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_get_app_data(ssl));
  if (!slot) return 0;  // not ours to keep: OpenSSL frees it
  if (slot->session) SSL_SESSION_free(slot->session);
  slot->session = session;
  return 1;  // we hold the reference now
}

}  // namespace

TlsClient::TlsClient(const std::string& ca_file, bool insecure, bool resume) : resume_(resume) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + openssl_error());
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx_, SSL_MODE_RELEASE_BUFFERS);
  if (insecure) {
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
  } else {
    int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx_)
                             : SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    if (ok != 1) {
      std::string why = openssl_error();
      SSL_CTX_free(ctx_);
      throw std::runtime_error("cannot load CA certificates " +
                               (ca_file.empty() ? std::string("(system store)") : ca_file) + ": " +
                               why);
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
  if (resume_) {
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx_, on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  }
}

TlsClient::~TlsClient() { SSL_CTX_free(ctx_); }

SSL* TlsClient::new_ssl(const std::string& server_name, SessionSlot* slot) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  std::error_code ec;
  auto address = asio::ip::make_address(server_name, ec);
  bool ok = true;
  if (ec) {
    ok = SSL_set_tlsext_host_name(ssl, server_name.c_str()) == 1 &&
         SSL_set1_host(ssl, server_name.c_str()) == 1;
  } else {
    ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address.to_string().c_str()) == 1;
  }
  if (ok && resume_ && slot) {
    SSL_set_app_data(ssl, slot);
    if (slot->session) ok = SSL_set_session(ssl, slot->session) == 1;
  }
  if (!ok) {
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  return ssl;
}

}  // namespace sealpost::bench
