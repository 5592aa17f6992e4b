// TlsClient: send's names for net::ClientConnection's results, and its stricter TLS: the peer
// must verify (the handshake aborts otherwise), and a failure says why in one line with
// OpenSSL's verify result text (wrong name, untrusted issuer, expired).
#include "cli/send/tls_client.hpp"

#include <openssl/x509.h>

#include <string>

#include "net/client_authenticator.hpp"
#include "sasl/base64.hpp"
#include "tls/client_verify.hpp"

namespace sealpost::send {

namespace {

// Writes go out in slices with a deadline each: --timeout bounds a peer that stops reading,
// not the time a large message takes over a slow link.
constexpr std::size_t kWriteSlice = 16384;

net::Deadline after(std::chrono::seconds timeout) { return net::Clock::now() + timeout; }

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

}  // namespace

ConnectStatus TlsClient::connect(const std::string& host, int port, std::chrono::seconds timeout) {
  auto connected = conn_.connect(host, port, {}, net::Deadline::max(), timeout);
  if (connected) return ConnectStatus::kOk;
  error_ = connected.error().message;
  switch (connected.error().kind) {
    case net::ConnectError::kNoHost:
      return ConnectStatus::kNoHost;
    case net::ConnectError::kTempDns:
      return ConnectStatus::kTempDns;
    default:
      return ConnectStatus::kFailed;
  }
}

bool TlsClient::start_tls(const TlsParams& params, std::chrono::seconds timeout) {
  timed_out_ = false;
  auto ctx = tls::make_client_context({params.ca_file, /*enforce=*/true});
  if (!ctx) return error_ = ctx.error(), false;
  net::SslPtr ssl(SSL_new(ctx->get()));
  if (!ssl) return error_ = "SSL_new failed", false;
  const std::string& name = params.server_name;
  bool ip = tls::is_ip_literal(name);
  // RFC 6066 §3: no IP literal as SNI; the certificate must then carry it as an IP SAN.
  auto setup = tls::configure_peer(ssl.get(), {name, ip ? "" : name, {}});
  if (!setup) return error_ = setup.error(), false;
  if (!ip)
    for (const auto& other : params.also_accept) SSL_add1_host(ssl.get(), other.c_str());
  auto done = conn_.handshake(std::move(ssl), after(timeout));
  if (done) return check_pin(params);
  if (done.error().kind == net::HandshakeError::kTimeout) {
    timed_out_ = true;
    error_ = "timed out after " + std::to_string(timeout.count()) +
             " s waiting for the TLS handshake with " + name;
    return false;
  }
  tls::PeerResult peer = tls::examine_peer(conn_.ssl());
  if (peer.verify_error != X509_V_OK) {
    std::string names = name;
    for (const auto& other : params.also_accept) names += " or " + other;
    error_ = "TLS: certificate verification failed for " + names + ": " + peer.reason;
  } else {
    error_ = "TLS handshake with " + name + " failed: " + done.error().reason;
  }
  return false;
}

bool TlsClient::check_pin(const TlsParams& params) {
  if (params.pin_sha256.empty()) return true;
  tls::PeerResult peer = tls::examine_peer(conn_.ssl());
  if (peer.chain.empty() || peer.chain.front().spki_sha256.empty())
    return error_ = "TLS: no server public key to check the pin", false;
  std::string got = sasl::base64_encode(from_hex(peer.chain.front().spki_sha256));
  if (got == params.pin_sha256) return true;
  error_ =
      "TLS: server public key pin mismatch for " + params.server_name + " (got sha256 " + got + ")";
  return false;
}

std::string TlsClient::tls_exporter() const {
  return conn_.tls_active() ? net::tls_exporter(conn_.ssl()) : std::string();
}

std::string TlsClient::tls_description() const {
  if (!conn_.tls_active()) return "plaintext";
  return std::string(SSL_get_version(conn_.ssl())) + " " + SSL_get_cipher_name(conn_.ssl());
}

IoStatus TlsClient::write_all(std::string_view data, std::chrono::seconds timeout) {
  while (!data.empty()) {
    std::string_view slice = data.substr(0, kWriteSlice);
    if (IoStatus io = conn_.write_all(slice, after(timeout)); io != IoStatus::kOk) return io;
    data.remove_prefix(slice.size());
  }
  return IoStatus::kOk;
}

IoStatus TlsClient::read_some(std::string& into, std::chrono::seconds timeout) {
  return conn_.read_some(into, after(timeout));
}

}  // namespace sealpost::send
