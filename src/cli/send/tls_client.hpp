// The client connection for `sealpost send`: TCP connect with a deadline, then TLS as a client
// (RFC 8314): TLS 1.2+, the peer verified against the system CA store or a CA file, the host
// name checked per RFC 6125 (OpenSSL X509_check_host / IP SAN), SNI, an optional SPKI SHA-256
// pin, and the RFC 9266 tls-exporter for SCRAM-SHA-256-PLUS. Blocking socket, per-call timeouts:
// a one-shot command needs no event loop. SRV discovery is in discovery.hpp.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::send {

struct TlsParams {
  std::string server_name;  // SNI (omitted for an IP literal) and the name checked
  std::string ca_file;      // empty: the system store
  std::string pin_sha256;   // base64 SHA-256 of the SPKI DER; empty: no pin
  // Further names the certificate may match instead (a DNSSEC-validated SRV target, RFC 7817
  // §3); never set from unauthenticated DNS data.
  std::vector<std::string> also_accept;
};

enum class ConnectStatus { kOk, kNoHost, kTempDns, kFailed };

enum class IoStatus { kOk, kEof, kTimeout, kError };

class TlsClient {
 public:
  TlsClient() = default;
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  ConnectStatus connect(const std::string& host, int port, std::chrono::seconds timeout);
  // TLS handshake on the connected socket; false with error() set on any failure.
  bool start_tls(const TlsParams& params, std::chrono::seconds timeout);
  IoStatus write_all(std::string_view data, std::chrono::seconds timeout);
  IoStatus read_some(std::string& into, std::chrono::seconds timeout);
  void close();

  const std::string& error() const { return error_; }
  // The last start_tls() failed because the peer sent nothing for `timeout` (an outage or a
  // server that waits for us, e.g. STARTTLS aimed at an implicit-TLS port), not a refusal.
  bool timed_out() const { return timed_out_; }
  bool tls_active() const { return ssl_ != nullptr; }
  // RFC 9266 tls-exporter (32 bytes) on TLS 1.3; empty otherwise.
  std::string tls_exporter() const;
  std::string tls_description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

 private:
  void set_timeout(std::chrono::seconds timeout);
  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
  bool timed_out_ = false;
};

}  // namespace sealpost::send
