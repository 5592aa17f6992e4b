// Test helpers for the tls module: throwaway certificates made with the OpenSSL API, and a
// client/server pair joined by an in-memory BIO pair so handshakes run without sockets.
// Client contexts here verify nothing; tests inspect the peer certificate themselves.
#pragma once

#include <openssl/ssl.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tls/server_context.hpp"

namespace sealpost::tls::test {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

enum class KeyType { kEcdsa, kRsa };

// Self-signed leaf with subject CN=`common_name` and SAN dNSNames `dns_names` (no SAN
// extension when empty). Throws std::runtime_error on failure.
void write_certificate(const std::filesystem::path& cert, const std::filesystem::path& key,
                       KeyType type, const std::string& common_name,
                       const std::vector<std::string>& dns_names);

// TLS 1.2-1.3 client with OpenSSL defaults and no verification.
SslCtxPtr client_context();

// A server context with no hardening at all (security level 0, every protocol and cipher):
// the control case proving that a refusal comes from our settings, not from the client.
SslCtxPtr permissive_server_context(const std::filesystem::path& cert,
                                    const std::filesystem::path& key);

// One client and one server SSL wired together through a BIO pair.
struct Connection {
  SslPtr client;
  SslPtr server;
};
Connection connect(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& sni = "");
Connection connect(SslPtr server, SSL_CTX* client_ctx, const std::string& sni = "");

// Steps both sides until both finish (true) or one fails (false).
bool handshake(Connection& c);

// What the client saw of the server.
std::string peer_common_name(const SSL* client);
int peer_key_type(const SSL* client);  // EVP_PKEY_EC or EVP_PKEY_RSA

}  // namespace sealpost::tls::test
