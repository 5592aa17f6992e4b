// Client mechanism factory and chooser, plus the two one-message-per-challenge mechanisms:
// PLAIN (RFC 4616 §2) and LOGIN (draft-murchison-sasl-login-00). SCRAM is in scram_client.cpp.
#include "sasl/client_mechanism.hpp"

#include <cctype>

#include "sasl/mechanism.hpp"
#include "sasl/saslprep.hpp"
#include "sasl/scram_client.hpp"
#include "sasl/scram_keys.hpp"
#include "sasl/scram_message.hpp"

namespace sealpost::sasl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

ClientStep respond(std::string data) {
  return ClientStep{ClientStatus::kRespond, std::move(data), {}};
}
ClientStep refuse(std::string reason) {
  return ClientStep{ClientStatus::kFailure, {}, std::move(reason)};
}

class PlainClient final : public ClientMechanism {
 public:
  explicit PlainClient(ClientContext context) : context_(std::move(context)) {}
  ~PlainClient() override { cleanse(context_.password); }
  std::string_view name() const override { return "PLAIN"; }
  std::optional<std::string> initial_response() override {
    if (sent_) return std::nullopt;
    sent_ = true;
    std::string message = context_.authzid;
    message += '\0';
    message += context_.authcid;
    message += '\0';
    message += context_.password;
    return message;
  }
  ClientStep step(std::string_view challenge) override {
    // Only an empty first challenge (no initial response was sent) is expected.
    if (sent_ || !challenge.empty()) return refuse("PLAIN: unexpected challenge");
    return respond(*initial_response());
  }
  bool complete() const override { return sent_; }

 private:
  ClientContext context_;
  bool sent_ = false;
};

class LoginClient final : public ClientMechanism {
 public:
  explicit LoginClient(ClientContext context) : context_(std::move(context)) {}
  ~LoginClient() override { cleanse(context_.password); }
  std::string_view name() const override { return "LOGIN"; }
  std::optional<std::string> initial_response() override { return std::nullopt; }
  // Servers word the prompts differently ("Username:", "User Name"); go by their order.
  ClientStep step(std::string_view) override {
    switch (answered_++) {
      case 0:
        return respond(context_.authcid);
      case 1:
        return respond(context_.password);
      default:
        return refuse("LOGIN: unexpected third challenge");
    }
  }
  bool complete() const override { return answered_ >= 2; }

 private:
  ClientContext context_;
  int answered_ = 0;
};

}  // namespace

std::unique_ptr<ClientMechanism> make_client_mechanism(std::string_view name,
                                                       const ClientContext& context) {
  if (!acceptable_sasl_string(context.authcid, kMaxNameBytes) ||
      !acceptable_sasl_string(context.password, kMaxPasswordBytes) ||
      (!context.authzid.empty() && !acceptable_sasl_string(context.authzid, kMaxNameBytes))) {
    return nullptr;
  }
  if (iequals(name, "PLAIN")) return std::make_unique<PlainClient>(context);
  if (iequals(name, "LOGIN")) {
    if (!context.authzid.empty()) return nullptr;  // LOGIN cannot carry an authzid
    return std::make_unique<LoginClient>(context);
  }
  const bool plus = iequals(name, "SCRAM-SHA-256-PLUS");
  if (!plus && !iequals(name, "SCRAM-SHA-256")) return nullptr;
  if (context.client_nonce.size() < kMinNonceBytes ||
      context.client_nonce.size() > kMaxNonceBytes || !scram::is_printable(context.client_nonce)) {
    return nullptr;
  }
  if (plus && context.tls_exporter.size() != 32) return nullptr;
  return std::make_unique<ScramSha256Client>(context, plus);
}

std::optional<std::string_view> choose_client_mechanism(std::string_view advertised,
                                                        bool have_tls_exporter) {
  const auto offered = [&](std::string_view mech) {
    std::size_t begin = 0;
    while (begin <= advertised.size()) {
      std::size_t end = advertised.find(' ', begin);
      if (end == std::string_view::npos) end = advertised.size();
      if (iequals(advertised.substr(begin, end - begin), mech)) return true;
      begin = end + 1;
    }
    return false;
  };
  if (have_tls_exporter && offered("SCRAM-SHA-256-PLUS")) return "SCRAM-SHA-256-PLUS";
  for (std::string_view mech : {"SCRAM-SHA-256", "PLAIN", "LOGIN"}) {
    if (offered(mech)) return mech;
  }
  return std::nullopt;
}

}  // namespace sealpost::sasl
