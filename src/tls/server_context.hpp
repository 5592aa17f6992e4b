// Server-side TLS contexts: one SSL_CTX per certificate set (pki), hardened per RFC 9325 —
// TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers only, no renegotiation, no compression — with
// several key pairs side by side (ECDSA and RSA) and SNI choosing the set by host name.
// Pure OpenSSL; Asio wraps the contexts in src/net.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace sealpost::tls {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// The contexts for one listener: the default (first pki) plus the others, searched by SNI.
// Immutable once built; a reload builds a new one (see CertStore).
class ServerContexts {
 public:
  // Throws std::runtime_error naming the file on unreadable/mismatched cert or key.
  ServerContexts(const std::vector<config::Pki>& all_pki, const std::vector<std::string>& use);
  ~ServerContexts();
  ServerContexts(const ServerContexts&) = delete;
  ServerContexts& operator=(const ServerContexts&) = delete;

  // The context new connections start with; its servername callback switches to the set
  // whose certificate names match the client's SNI (exact, then "*.example.org" wildcard),
  // keeping the default when nothing matches.
  SSL_CTX* default_context() const { return entries_->front().ctx.get(); }
  SSL_CTX* find(const std::string& server_name) const;  // nullptr if no match

 private:
  struct Entry {
    std::string pki_name;
    std::vector<std::string> names;  // lower-cased dNSNames (and CN if no SAN)
    SslCtxPtr ctx;
  };
  // Shared so that each SSL_CTX can hold a weak reference for its SNI callback: an SSL that
  // outlives this object (reload mid-handshake) then keeps its default certificate instead
  // of reading freed memory.
  std::shared_ptr<const std::vector<Entry>> entries_;
};

}  // namespace sealpost::tls
