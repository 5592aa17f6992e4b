// The load generator's TLS client side: one SSL_CTX for the run (verification against --ca or
// the system store, unless --insecure), and per-connection SSL objects set up with SNI, the
// name to verify and, with --resume, the worker's last session (ticket). No socket I/O here.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace sealpost::bench {

// Where a worker keeps the session to resume; the new-session callback replaces it as tickets
// arrive (TLS 1.3 sends them after the handshake, so SSL_get1_session right after it is early).
struct SessionSlot {
  SSL_SESSION* session = nullptr;
  SessionSlot() = default;
  SessionSlot(const SessionSlot&) = delete;
  SessionSlot& operator=(const SessionSlot&) = delete;
  ~SessionSlot() {
    if (session) SSL_SESSION_free(session);
  }
};

class TlsClient {
 public:
  // Throws std::runtime_error (start-up failure) if the CA file cannot be loaded.
  TlsClient(const std::string& ca_file, bool insecure, bool resume);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client SSL for one connection: SNI = server_name unless it is an IP literal (RFC 6066
  // §3), verified name = server_name (DNS name or IP address). slot: resume from and store to.
  SSL* new_ssl(const std::string& server_name, SessionSlot* slot) const;

 private:
  SSL_CTX* ctx_ = nullptr;
  bool resume_ = false;
};

}  // namespace sealpost::bench
