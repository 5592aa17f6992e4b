// smtp::ClientAuthenticator over the src/sasl client mechanisms: picks the mechanism (a fixed
// --mechanism or the strongest both sides support), makes the SCRAM nonce, and base64-codes
// the AUTH dialogue (RFC 4954 §4).
#pragma once

#include <memory>
#include <string>

#include "sasl/client_mechanism.hpp"
#include "smtp/client_session.hpp"

namespace sealpost::send {

class SaslAdapter final : public smtp::ClientAuthenticator {
 public:
  SaslAdapter(std::string user, std::string password, std::string forced_mechanism);
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

}  // namespace sealpost::send
