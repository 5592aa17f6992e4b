// SCRAM-SHA-256(-PLUS) client state machine (RFC 5802 §5 and §6; RFC 7677; RFC 9266).
#include "sasl/scram_client.hpp"

#include <openssl/crypto.h>

#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/scram_message.hpp"

namespace sealpost::sasl {

ScramSha256Client::ScramSha256Client(ClientContext context, bool plus)
    : context_(std::move(context)), plus_(plus) {}

ScramSha256Client::~ScramSha256Client() { cleanse(context_.password); }

std::string_view ScramSha256Client::name() const {
  return plus_ ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
}

ClientStep ScramSha256Client::fail(std::string reason) {
  state_ = State::kDone;
  return ClientStep{ClientStatus::kFailure, {}, std::move(reason)};
}

std::optional<std::string> ScramSha256Client::initial_response() {
  if (state_ != State::kStart) return std::nullopt;
  // §6: "p=tls-exporter" with -PLUS; "y" if we could bind but the server offered no -PLUS
  // (lets it detect a downgrade); otherwise "n".
  gs2_header_ = plus_ ? "p=tls-exporter," : context_.tls_exporter.empty() ? "n," : "y,";
  if (!context_.authzid.empty()) gs2_header_ += "a=" + scram::encode_saslname(context_.authzid);
  gs2_header_ += ',';
  client_first_bare_ =
      "n=" + scram::encode_saslname(context_.authcid) + ",r=" + context_.client_nonce;
  state_ = State::kAwaitServerFirst;
  return gs2_header_ + client_first_bare_;
}

ClientStep ScramSha256Client::step(std::string_view challenge) {
  switch (state_) {
    case State::kStart:
      // The server asked first (no initial response was sent): RFC 4422 §5 empty challenge.
      if (!challenge.empty()) return fail("SCRAM: unexpected non-empty first challenge");
      return ClientStep{ClientStatus::kRespond, *initial_response(), {}};
    case State::kAwaitServerFirst:
      return on_server_first(challenge);
    case State::kAwaitServerFinal:
      return on_server_final(challenge);
    case State::kVerified:
    case State::kDone:
      break;
  }
  return fail("SCRAM: unexpected challenge after the exchange");
}

ClientStep ScramSha256Client::on_server_first(std::string_view message) {
  auto parsed = scram::parse_server_first(message);
  if (!parsed.value) return fail("SCRAM: " + std::string(parsed.error));
  const scram::ServerFirst& first = *parsed.value;
  // §5.1: the server's nonce starts with ours and adds its own part.
  if (first.nonce.size() <= context_.client_nonce.size() ||
      first.nonce.compare(0, context_.client_nonce.size(), context_.client_nonce) != 0) {
    return fail("SCRAM: server nonce does not extend the client nonce");
  }
  // RFC 7677 §4: fewer than 4096 iterations would let a MITM cheapen an offline attack.
  if (first.iterations < kMinScramIterations) return fail("SCRAM: iteration count below 4096");
  auto keys = derive_scram_keys(context_.password, first.salt, first.iterations);
  if (!keys) return fail("SCRAM: cannot derive keys");

  std::string cbind = gs2_header_;
  if (plus_) cbind += context_.tls_exporter;
  const std::string without_proof = "c=" + base64_encode(cbind) + ",r=" + first.nonce;
  const std::string auth_message =
      client_first_bare_ + "," + std::string(message) + "," + without_proof;
  const Sha256Digest client_signature = hmac_sha256(as_view(keys->stored_key), auth_message);
  std::string proof(client_signature.size(), '\0');
  for (std::size_t i = 0; i < proof.size(); ++i) {
    proof[i] = static_cast<char>(keys->client_key[i] ^ client_signature[i]);
  }
  server_signature_ = hmac_sha256(as_view(keys->server_key), auth_message);
  OPENSSL_cleanse(&*keys, sizeof(*keys));
  state_ = State::kAwaitServerFinal;
  return ClientStep{ClientStatus::kRespond, without_proof + ",p=" + base64_encode(proof), {}};
}

ClientStep ScramSha256Client::on_server_final(std::string_view message) {
  auto parsed = scram::parse_server_final(message);
  if (!parsed.value) return fail("SCRAM: " + std::string(parsed.error));
  if (!parsed.value->verifier) return fail("SCRAM: server error " + parsed.value->error);
  if (!constant_time_equal(*parsed.value->verifier, as_view(server_signature_))) {
    return fail("SCRAM: server signature mismatch (server does not know the credentials)");
  }
  state_ = State::kVerified;
  return ClientStep{ClientStatus::kRespond, {}, {}};  // RFC 4954 §4: empty response
}

}  // namespace sealpost::sasl
