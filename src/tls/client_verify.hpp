// Client-side TLS for every connection we open (tls-check now; send and remote delivery later):
// the client SSL_CTX (TLS 1.2+, system CA store or a CA file), the reference identity of one
// peer (SNI, RFC 6125 DNS-ID or IP), DANE from TLSA records (RFC 7671/7672 via OpenSSL's
// SSL_dane_*), and what a finished handshake tells about the peer. Operates on an SSL*; it
// owns no socket, so the same code runs over TCP and over in-memory BIO pairs in the tests.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/rdata.hpp"
#include "tls/server_context.hpp"

namespace sealpost::tls {

// One TLSA record (RFC 6698 §2.1), as given on a command line or from DNS: the resolver's
// own type, so records go from a lookup to OpenSSL without a copy into a twin struct.
using Tlsa = dns::TlsaRecord;

// Parses "U S M HEX" (decimal fields 0-255; the hex may be split by blanks, as dig prints it).
// Hashes of the wrong length for matching type 1/2 are refused here, so a typo is an error
// rather than a silently unusable record.
std::expected<Tlsa, std::string> parse_tlsa(std::string_view text);

struct ClientOptions {
  std::string ca_file;  // PEM trust anchors; empty: the system store
  // true: a peer that fails verification aborts the handshake (send, delivery). false: the
  // handshake completes and examine_peer() reports why it did not verify (tls-check).
  bool enforce = true;
};

// An IPv4 or IPv6 address literal (no brackets): checked against IP SANs, never sent as SNI.
bool is_ip_literal(const std::string& name);

// TLS 1.2+ client context with DANE support enabled (SSL_CTX_dane_enable).
std::expected<SslCtxPtr, std::string> make_client_context(const ClientOptions& options);

// Who we expect to reach on one connection.
struct PeerReference {
  std::string name;  // reference identity: DNS name or IP literal; "" = no name check
  std::string sni;   // server_name to send; "" = none (RFC 6066 §3: never an IP literal)
  // Non-empty: authenticate by DANE. RFC 7672 §3.1.3: only DANE-TA(2) and DANE-EE(3) are
  // used; PKIX-TA(0)/PKIX-EE(1) are ignored. With no usable record the peer is checked by
  // PKIX as usual (the caller decides what that means for its policy).
  std::vector<Tlsa> tlsa;
};

struct PeerSetup {
  std::size_t tlsa_usable = 0;   // records handed to OpenSSL and accepted by it
  std::size_t tlsa_ignored = 0;  // usages 0/1, or unsupported/malformed (RFC 7671 §4.1)
  bool dane = false;             // DANE decides (tlsa_usable > 0)
};

// Call on a fresh client SSL (from make_client_context) before the handshake.
std::expected<PeerSetup, std::string> configure_peer(SSL* ssl, const PeerReference& peer);

// One certificate as the peer sent it.
struct CertificateInfo {
  std::string subject;                         // RFC 2253 ("CN=mail.test,O=Example")
  std::string issuer;                          // RFC 2253
  std::string serial;                          // hex
  std::string not_before;                      // "2026-01-31T12:00:00Z"
  std::string not_after;                       // "2026-01-31T12:00:00Z"
  std::vector<std::string> subject_alt_names;  // "DNS:mail.test", "IP:127.0.0.1"
  std::string key;                             // "EC 256 prime256v1", "RSA 2048"
  std::string signature;                       // "ecdsa-with-SHA256"
  std::string spki_sha256;                     // hex of SHA-256 over the SPKI DER (TLSA x 1 1)
  std::string cert_sha256;                     // hex of SHA-256 over the certificate (x 0 1)
};

CertificateInfo describe_certificate(X509* cert);

// What one handshake established. Valid after a completed handshake, and after a failed one
// (then `handshake_done` is false and `reason` says why when it was the certificate).
struct PeerResult {
  bool handshake_done = false;
  bool verified = false;
  std::string method;                  // "pkix" | "dane-ee" | "dane-ta" | "" (not verified)
  long verify_error = 0;               // X509_V_OK or X509_V_ERR_*
  std::string reason;                  // X509_verify_cert_error_string(), "" when verified
  int error_depth = -1;                // chain depth of the failure, -1 if none / unknown
  std::optional<Tlsa> matched_tlsa;    // the record that verified the peer (DANE)
  int matched_depth = -1;              // depth of the certificate it matched
  std::string version;                 // "TLSv1.3"
  std::string cipher;                  // "TLS_AES_256_GCM_SHA384"
  std::string group;                   // key exchange group, "x25519", "secp256r1"
  std::vector<CertificateInfo> chain;  // as sent, leaf first
};

PeerResult examine_peer(SSL* ssl);

}  // namespace sealpost::tls
