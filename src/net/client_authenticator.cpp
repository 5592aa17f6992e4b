// SaslClientAuthenticator: the glue between ClientSession's base64 AUTH lines and
// sasl::ClientMechanism.
#include "net/client_authenticator.hpp"

#include <openssl/rand.h>

#include <cctype>

#include "sasl/base64.hpp"

namespace sealpost::net {

namespace {

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// RFC 5802 §5.1: a printable nonce without ','; base64 of 18 random bytes (144 bits).
std::string make_nonce() {
  unsigned char raw[18];
  RAND_bytes(raw, sizeof raw);
  return sasl::base64_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
}

}  // namespace

SaslClientAuthenticator::SaslClientAuthenticator(std::string user, std::string password,
                                                 std::string forced_mechanism)
    : user_(std::move(user)), password_(std::move(password)), forced_(upper(forced_mechanism)) {}

std::optional<std::string> SaslClientAuthenticator::choose(
    const std::vector<std::string>& offered) {
  std::string name;
  if (!forced_.empty()) {
    bool found = false;
    for (const auto& m : offered) found = found || m == forced_;
    if (!found) {
      detail_ = "the server does not offer " + forced_;
      return std::nullopt;
    }
    name = forced_;
  } else {
    std::string advertised;
    for (const auto& m : offered) advertised += (advertised.empty() ? "" : " ") + m;
    auto chosen = sasl::choose_client_mechanism(advertised, !exporter_.empty());
    if (!chosen) {
      detail_ = "no mechanism we support among: " + advertised;
      return std::nullopt;
    }
    name = std::string(*chosen);
  }
  sasl::ClientContext context;
  context.authcid = user_;
  context.password = password_;
  context.client_nonce = make_nonce();
  // RFC 5802 §6: "y" (we could bind, the server seems unable) only when no -PLUS was offered;
  // a forced plain SCRAM beside an offered -PLUS is a choice, not a downgrade: send "n".
  bool plus_offered = false;
  for (const auto& m : offered) plus_offered = plus_offered || m == "SCRAM-SHA-256-PLUS";
  if (name == "SCRAM-SHA-256-PLUS" || !plus_offered) context.tls_exporter = exporter_;
  mechanism_ = sasl::make_client_mechanism(name, context);
  if (!mechanism_) {
    detail_ = name == "SCRAM-SHA-256-PLUS" && exporter_.empty()
                  ? "SCRAM-SHA-256-PLUS needs TLS 1.3 (tls-exporter channel binding)"
                  : "cannot use " + name + " with these credentials";
    return std::nullopt;
  }
  return name;
}

std::optional<std::string> SaslClientAuthenticator::initial_response() {
  auto r = mechanism_->initial_response();
  if (!r) return std::nullopt;
  return sasl::base64_encode(*r);
}

std::optional<std::string> SaslClientAuthenticator::respond(std::string_view challenge) {
  auto decoded = sasl::base64_decode(challenge);
  if (!decoded) {
    detail_ = "server challenge is not valid base64";
    return std::nullopt;
  }
  sasl::ClientStep step = mechanism_->step(*decoded);
  if (step.status != sasl::ClientStatus::kRespond) {
    detail_ = step.reason;
    return std::nullopt;
  }
  return sasl::base64_encode(step.data);
}

bool SaslClientAuthenticator::complete() const { return mechanism_ && mechanism_->complete(); }

std::string tls_exporter(SSL* ssl) {
  if (ssl == nullptr || SSL_version(ssl) != TLS1_3_VERSION) return {};
  // RFC 9266 §2: 32 bytes, label "EXPORTER-Channel-Binding", no context.
  static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
  unsigned char out[32];
  if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0, 0) !=
      1)
    return {};
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

}  // namespace sealpost::net
