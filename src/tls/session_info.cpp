// Reads the negotiated version, cipher and SNI of a finished handshake for logs and the
// Received header's "with ESMTPS (...)" comment (RFC 8314 §4.3). Peer certificates are not
// described here: clients of a submission server authenticate with SASL, not certificates.
#include "tls/session_info.hpp"

namespace sealpost::tls {

SessionInfo describe(const SSL* ssl) {
  SessionInfo info;
  info.version = SSL_get_version(ssl);
  // OpenSSL's names, as Postfix logs them: TLS_AES_256_GCM_SHA384 for 1.3 (same as IANA),
  // ECDHE-ECDSA-AES256-GCM-SHA384 for 1.2.
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl)) {
    info.cipher = SSL_CIPHER_get_name(cipher);
    info.bits = SSL_CIPHER_get_bits(cipher, nullptr);
  }
  if (const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    info.server_name = name;
  }
  return info;
}

}  // namespace sealpost::tls
