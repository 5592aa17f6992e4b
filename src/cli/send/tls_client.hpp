// The client connection for `sealpost send`: net::ClientConnection (TCP connect, TLS, reads and
// writes against deadlines) with tls::client_verify's client context and peer checks (RFC 8314:
// TLS 1.2+, the peer verified against the system CA store or a CA file, the host name checked
// per RFC 6125, SNI), plus what send alone needs: further accepted names, an SPKI SHA-256 pin,
// the RFC 9266 tls-exporter for SCRAM-SHA-256-PLUS. Each call takes its own timeout (--timeout
// is per step). SRV discovery is in discovery.hpp.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "net/client_connection.hpp"

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

using IoStatus = net::Io;  // kOk, kEof, kTimeout, kError

class TlsClient {
 public:
  // Each address gets the whole `timeout` (--connect-timeout), in getaddrinfo's order.
  ConnectStatus connect(const std::string& host, int port, std::chrono::seconds timeout);
  // TLS handshake on the connected socket; false with error() set on any failure.
  bool start_tls(const TlsParams& params, std::chrono::seconds timeout);
  IoStatus write_all(std::string_view data, std::chrono::seconds timeout);
  IoStatus read_some(std::string& into, std::chrono::seconds timeout);
  void close() { conn_.close(); }

  const std::string& error() const { return error_; }
  // The last start_tls() failed because the peer sent nothing for `timeout` (an outage or a
  // server that waits for us, e.g. STARTTLS aimed at an implicit-TLS port), not a refusal.
  bool timed_out() const { return timed_out_; }
  bool tls_active() const { return conn_.tls_active(); }
  // RFC 9266 tls-exporter (32 bytes) on TLS 1.3; empty otherwise.
  std::string tls_exporter() const;
  std::string tls_description() const;  // "TLSv1.3 TLS_AES_256_GCM_SHA384"

 private:
  bool check_pin(const TlsParams& params);

  net::ClientConnection conn_;
  std::string error_;
  bool timed_out_ = false;
};

}  // namespace sealpost::send
