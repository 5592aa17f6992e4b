// Runs one connection's SMTP AUTH exchanges (RFC 4954): decodes base64, drives the sasl
// mechanism, checks passwords on the blocking pool (yescrypt must never stall a loop), applies
// the authzid rule and the failed-login throttle, and logs every outcome with peer and user.
// The session sees only AuthRequest in, AuthResult out.
#pragma once

#include <openssl/ssl.h>

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>
#include <memory>
#include <string>
#include <vector>

#include "auth/credential_store.hpp"
#include "auth/throttle.hpp"
#include "auth/verified_cache.hpp"
#include "sasl/mechanism.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::net {

// Shared by every connection; owned by the daemon.
struct AuthServices {
  auth::CredentialStore* store = nullptr;
  auth::Throttle* throttle = nullptr;
  asio::thread_pool* pool = nullptr;
  std::string fake_salt_secret;  // stable across restarts: fake SCRAM salts must not change
  unsigned fake_iterations = 4096;
  std::string dummy_hash;  // verified for unknown users so timing does not reveal them
  auth::VerifiedCache* verified_cache = nullptr;  // optional: skips yescrypt on a repeat login
};

class Authenticator {
 public:
  Authenticator(const AuthServices& services, std::string peer)
      : services_(services), peer_(std::move(peer)) {}

  // After the TLS handshake: learns the channel binding (TLS 1.3 exporter) and the client
  // certificate, and returns the mechanisms to advertise, strongest first.
  std::vector<std::string> on_tls(SSL* ssl);

  asio::awaitable<smtp::AuthResult> step(const smtp::AuthRequest& request);

 private:
  asio::awaitable<smtp::AuthResult> finish(bool ok, bool cached = false);
  asio::awaitable<smtp::AuthResult> fail(const std::string& why);

  const AuthServices& services_;
  std::string peer_;
  std::string tls_exporter_;
  std::string certificate_user_;  // user mapped from the TLS client certificate
  std::unique_ptr<sasl::CredentialLookup> lookup_;
  std::unique_ptr<sasl::ServerMechanism> mechanism_;
};

}  // namespace sealpost::net
