// smtp::ClientAuthenticator over the src/sasl client mechanisms, for every client that
// authenticates (sealpost send, the smarthost relay): picks the mechanism (a fixed one or the
// strongest both sides support), makes the SCRAM nonce, and base64-codes the AUTH dialogue
// (RFC 4954 §4). Here rather than in src/sasl or src/smtp: it needs both, and randomness.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "sasl/client_mechanism.hpp"
#include "smtp/client_session.hpp"

namespace sealpost::net {

class SaslClientAuthenticator final : public smtp::ClientAuthenticator {
 public:
  // forced_mechanism "": the strongest offered (sasl::choose_client_mechanism).
  SaslClientAuthenticator(std::string user, std::string password,
                          std::string forced_mechanism = "");
  // RFC 9266 data of the TLS connection, for SCRAM-SHA-256-PLUS; "" (the default): no binding.
  void set_tls_exporter(std::string exporter) { exporter_ = std::move(exporter); }

  std::optional<std::string> choose(const std::vector<std::string>& offered) override;
  std::optional<std::string> initial_response() override;
  std::optional<std::string> respond(std::string_view challenge) override;
  bool complete() const override;
  std::string failure_detail() const override { return detail_; }

 private:
  std::string user_;
  std::string password_;
  std::string forced_;
  std::string exporter_;
  std::unique_ptr<sasl::ClientMechanism> mechanism_;
  std::string detail_;
};

// RFC 9266 tls-exporter (32 bytes) of an established TLS 1.3 connection; "" otherwise.
std::string tls_exporter(SSL* ssl);

}  // namespace sealpost::net
