// Builds the hardened server SSL_CTXs of one listener and the SNI switch between them
// (RFC 9325 recommendations, RFC 6066 §3 server_name). Client-side contexts, DANE and peer
// verification live elsewhere (tls::Policy); nothing here touches sockets.
#include "tls/server_context.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace sealpost::tls {
namespace {

// RFC 9325 §4.2: TLS 1.2 only with forward secrecy and AEAD. Order is our preference.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";
// The same for every context of a process, so a session resumes whichever pki SNI chose
// (resumption is decided before the servername callback runs).
constexpr unsigned char kSessionIdContext[] = "sealpost";

// Drains OpenSSL's error queue into one line, so a stale error never leaks into a later one.
std::string openssl_error() {
  std::string out;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + openssl_error());
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::ranges::transform(out, out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

// dNSNames from subjectAltName; the subject CN only when there is no dNSName (RFC 6125 §6.4.4).
void append_names(X509* cert, std::vector<std::string>& names) {
  std::size_t before = names.size();
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(sans, i);
    if (gen->type != GEN_DNS) continue;
    const ASN1_STRING* s = gen->d.dNSName;
    names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                           static_cast<std::size_t>(ASN1_STRING_length(s))}));
  }
  GENERAL_NAMES_free(sans);
  if (names.size() != before) return;
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return;
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
  if (len > 0)
    names.push_back(lower({reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len)}));
  OPENSSL_free(utf8);
}

SslCtxPtr make_context(const config::Pki& pki, std::vector<std::string>& names) {
  if (pki.certs.empty() || pki.certs.size() != pki.keys.size()) {
    throw std::runtime_error("pki \"" + pki.name + "\": needs as many keys as certificates");
  }
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) fail("SSL_CTX_new");
  SSL_CTX* c = ctx.get();
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(c, kGroups) != 1 ||
      SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1) != 1) {
    fail("pki \"" + pki.name + "\": TLS parameters");
  }
  // Renegotiation (CVE-2009-3555 family, and a CPU DoS) and compression (CRIME) stay off.
  // Tickets stay on: TLS 1.3 resumption saves a full handshake for repeat submitters.
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle sessions give their read/write buffers back: thousands of them sit in IDLE/DATA.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  // One read(2) per burst instead of two per record (5-byte header, then the rest): halves
  // the read syscalls of a mail transaction. What is read ahead stays inside OpenSSL, and
  // the transport reads from OpenSSL before it ever waits on the socket.
  SSL_CTX_set_read_ahead(c, 1);

  // OpenSSL keeps one certificate per key type, so an ECDSA and an RSA pair coexist and the
  // client's signature_algorithms pick between them.
  for (std::size_t i = 0; i < pki.certs.size(); ++i) {
    const std::string cert = pki.certs[i].string();
    const std::string key = pki.keys[i].string();
    if (SSL_CTX_use_certificate_chain_file(c, cert.c_str()) != 1) fail(cert);
    if (SSL_CTX_use_PrivateKey_file(c, key.c_str(), SSL_FILETYPE_PEM) != 1) fail(key);
    if (SSL_CTX_check_private_key(c) != 1) fail(key + " does not match " + cert);
    append_names(SSL_CTX_get0_certificate(c), names);
  }
  return ctx;
}

// "*.example.org" stands for exactly one left-most label (RFC 6125 §6.4.3).
bool wildcard_matches(std::string_view pattern, std::string_view name) {
  if (!pattern.starts_with("*.")) return false;
  std::size_t dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
}

template <typename Entries>
SSL_CTX* match(const Entries& entries, std::string_view server_name) {
  std::string name = lower(server_name);
  if (name.ends_with('.')) name.pop_back();  // absolute form names the same host
  for (const auto& e : entries) {
    if (std::ranges::find(e.names, name) != e.names.end()) return e.ctx.get();
  }
  for (const auto& e : entries) {
    for (const auto& pattern : e.names) {
      if (wildcard_matches(pattern, name)) return e.ctx.get();
    }
  }
  return nullptr;
}

}  // namespace

ServerContexts::ServerContexts(const std::vector<config::Pki>& all_pki,
                               const std::vector<std::string>& use) {
  using Table = std::vector<Entry>;
  using WeakTable = std::weak_ptr<const Table>;
  if (use.empty()) throw std::runtime_error("listener with TLS names no pki");

  auto table = std::make_shared<Table>();
  for (const std::string& name : use) {
    auto pki = std::ranges::find(all_pki, name, &config::Pki::name);
    if (pki == all_pki.end()) throw std::runtime_error("unknown pki \"" + name + "\"");
    Entry entry{.pki_name = name, .names = {}, .ctx = nullptr};
    entry.ctx = make_context(*pki, entry.names);
    table->push_back(std::move(entry));
  }

  // Each SSL_CTX owns a weak_ptr to the table; the ex_data free hook deletes it with the ctx.
  static const int ex_index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<WeakTable*>(ptr);
      });
  if (ex_index < 0) fail("SSL_CTX_get_ex_new_index");

  auto on_server_name = [](SSL* ssl, int*, void*) -> int {
    const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    auto* weak = static_cast<WeakTable*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index));
    if (sni == nullptr || weak == nullptr) return SSL_TLSEXT_ERR_OK;
    // Locking keeps every context alive until SSL_set_SSL_CTX has taken its own reference.
    std::shared_ptr<const Table> entries = weak->lock();
    if (!entries) return SSL_TLSEXT_ERR_OK;  // reloaded away mid-handshake: keep the default
    SSL_CTX* chosen = match(*entries, sni);
    if (chosen == nullptr || chosen == SSL_get_SSL_CTX(ssl)) return SSL_TLSEXT_ERR_OK;
    if (SSL_set_SSL_CTX(ssl, chosen) == nullptr) return SSL_TLSEXT_ERR_ALERT_FATAL;
    // SSL_set_SSL_CTX swaps certificates and the session id context only; options were
    // copied at SSL_new. Every context sets the same ones, but re-apply them so the
    // hardening holds even if the sets ever diverge.
    SSL_set_options(ssl, SSL_CTX_get_options(chosen));
    SSL_set_mode(ssl, SSL_CTX_get_mode(chosen));
    return SSL_TLSEXT_ERR_OK;
  };

  for (Entry& entry : *table) {
    auto* weak = new WeakTable(table);
    if (SSL_CTX_set_ex_data(entry.ctx.get(), ex_index, weak) != 1) {
      delete weak;
      fail("SSL_CTX_set_ex_data");
    }
    SSL_CTX_set_tlsext_servername_callback(entry.ctx.get(), +on_server_name);
  }
  entries_ = std::move(table);
}

ServerContexts::~ServerContexts() = default;

SSL_CTX* ServerContexts::find(const std::string& server_name) const {
  return match(*entries_, server_name);
}

}  // namespace sealpost::tls
