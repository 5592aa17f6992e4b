// SCRAM-SHA-256(-PLUS) server state machine (RFC 5802 §5, §6, §7; RFC 7677; RFC 9266).
// Everything that changes the exchange's state is in this file; grammar lives in
// scram_message.cpp, key derivation in scram_keys.cpp.
#include "sasl/scram.hpp"

#include "sasl/base64.hpp"
#include "sasl/scram_keys.hpp"

namespace sealpost::sasl {
namespace {

constexpr std::string_view kCbName = "tls-exporter";  // RFC 9266 §2
constexpr std::size_t kExporterBytes = 32;            // RFC 9266 §2: 32 bytes

}  // namespace

ScramSha256Mechanism::ScramSha256Mechanism(const MechanismContext& context, bool plus)
    : context_(context), plus_(plus) {}

std::string_view ScramSha256Mechanism::name() const {
  return plus_ ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
}

Step ScramSha256Mechanism::fail(Failure failure, std::string reason,
                                std::string_view server_error) {
  state_ = State::kDone;
  return failure_step(failure, std::move(reason), "e=" + std::string(server_error));
}

Step ScramSha256Mechanism::start(std::optional<std::string_view> initial_response) {
  if (state_ != State::kStart)
    return fail(Failure::kMalformed, "SCRAM started twice", "other-error");
  if (context_.lookup == nullptr) {
    return fail(Failure::kUnavailable, "SCRAM: no credential lookup", "other-error");
  }
  // The caller's nonce is our only randomness; refuse a short or unusable one (RFC 5802 §5.1).
  if (context_.server_nonce.size() < kMinNonceBytes ||
      context_.server_nonce.size() > kMaxNonceBytes ||
      !scram::is_printable(context_.server_nonce)) {
    return fail(Failure::kUnavailable, "SCRAM: server nonce unusable", "other-error");
  }
  if (plus_ && context_.tls_exporter.size() != kExporterBytes) {
    return fail(Failure::kChannelBinding, "SCRAM-PLUS without TLS 1.3 exporter",
                "channel-bindings-dont-match");
  }
  state_ = State::kAwaitClientFirst;
  // SCRAM is client-first: without an initial response, send an empty challenge (RFC 4422 §5).
  if (!initial_response) return challenge_step({});
  return on_client_first(*initial_response);
}

Step ScramSha256Mechanism::step(std::string_view response) {
  switch (state_) {
    case State::kAwaitClientFirst:
      return on_client_first(response);
    case State::kAwaitClientFinal:
      return on_client_final(response);
    case State::kAwaitAck:
      // RFC 4954 §4: the server-final went out as a challenge; the client answers empty.
      state_ = State::kDone;
      if (!response.empty()) return failure_step(Failure::kMalformed, "SCRAM: non-empty ack");
      return outcome_step(Status::kSuccess);
    case State::kStart:
    case State::kDone:
      break;
  }
  state_ = State::kDone;
  return failure_step(Failure::kMalformed, "SCRAM: unexpected response");
}

Step ScramSha256Mechanism::on_client_first(std::string_view message) {
  auto parsed = scram::parse_client_first(message);
  if (!parsed.value) return fail(Failure::kMalformed, std::string(parsed.error), "other-error");
  scram::ClientFirst& first = *parsed.value;
  identity_.authcid = first.username;
  identity_.authzid = first.authzid;

  // Channel binding negotiation, RFC 5802 §6 and RFC 9266.
  switch (first.cbind_flag) {
    case scram::CbindFlag::kUsed:
      if (!plus_) {
        // "p" is only meaningful with a -PLUS mechanism name.
        return fail(Failure::kChannelBinding, "SCRAM: channel binding flag on non-PLUS",
                    "other-error");
      }
      if (first.cb_name != kCbName) {
        return fail(Failure::kChannelBinding, "SCRAM-PLUS: unsupported cb-name " + first.cb_name,
                    "unsupported-channel-binding-type");
      }
      break;
    case scram::CbindFlag::kServerLacksIt:
      // "y": the client could bind but believes we cannot. If we advertise -PLUS, a MITM
      // removed it from the list (downgrade); the server MUST fail (§6).
      if (plus_ || !context_.tls_exporter.empty()) {
        return fail(Failure::kChannelBinding, "SCRAM: 'y' flag while -PLUS offered (downgrade?)",
                    "server-does-support-channel-binding");
      }
      break;
    case scram::CbindFlag::kNotSupported:
      if (plus_) {
        return fail(Failure::kChannelBinding, "SCRAM-PLUS: client did not bind", "other-error");
      }
      break;
  }

  auto found = context_.lookup->scram_sha256(first.username);
  if (found) {
    credentials_ = std::move(*found);
    // Stored credentials below the RFC 7677 §4 minimum, or without salt, are not used.
    if (credentials_.iterations < kMinScramIterations ||
        credentials_.iterations > kMaxScramIterations || credentials_.salt.empty()) {
      return fail(Failure::kUnavailable, "SCRAM: stored credentials unusable", "other-error");
    }
  } else {
    // Unknown user: continue with deterministic fake credentials so the server-first looks the
    // same as for a real user and repeats across attempts (RFC 5802 §9), and fail at the end.
    unknown_user_ = true;
    const std::uint32_t iterations = context_.fake_iterations >= kMinScramIterations &&
                                             context_.fake_iterations <= kMaxScramIterations
                                         ? context_.fake_iterations
                                         : kMinScramIterations;
    credentials_ = fake_scram_credentials(context_.fake_salt_secret, first.username, iterations);
  }

  gs2_header_ = std::move(first.gs2_header);
  client_first_bare_ = std::move(first.bare);
  nonce_ = first.nonce + context_.server_nonce;
  server_first_ = "r=" + nonce_ + ",s=" + base64_encode(credentials_.salt) +
                  ",i=" + std::to_string(credentials_.iterations);
  state_ = State::kAwaitClientFinal;
  return challenge_step(server_first_);
}

Step ScramSha256Mechanism::on_client_final(std::string_view message) {
  auto parsed = scram::parse_client_final(message);
  if (!parsed.value) return fail(Failure::kMalformed, std::string(parsed.error), "other-error");
  const scram::ClientFinal& final_msg = *parsed.value;

  // c= must repeat the GS2 header (so a MITM cannot rewrite the flag) plus, for "p", the
  // channel binding data of this very TLS connection (RFC 5802 §6, RFC 9266).
  std::string expected_cbind = gs2_header_;
  if (plus_) expected_cbind += context_.tls_exporter;
  if (!constant_time_equal(final_msg.channel_binding, expected_cbind)) {
    return fail(Failure::kChannelBinding, "SCRAM: channel binding mismatch",
                "channel-bindings-dont-match");
  }
  // The client must echo exactly the nonce we sent (§5.1: "r" in client-final).
  if (!constant_time_equal(final_msg.nonce, nonce_)) {
    return fail(Failure::kMalformed, "SCRAM: nonce mismatch", "other-error");
  }
  if (final_msg.proof.size() != credentials_.stored_key.size()) {
    return fail(Failure::kMalformed, "SCRAM: proof has wrong length", "invalid-proof");
  }

  // §3: ClientSignature = HMAC(StoredKey, AuthMessage); ClientKey = ClientProof XOR
  // ClientSignature; the proof holds iff H(ClientKey) == StoredKey.
  const std::string auth_message =
      client_first_bare_ + "," + server_first_ + "," + final_msg.without_proof;
  const Sha256Digest client_signature = hmac_sha256(as_view(credentials_.stored_key), auth_message);
  Sha256Digest client_key{};
  for (std::size_t i = 0; i < client_key.size(); ++i) {
    client_key[i] = static_cast<unsigned char>(final_msg.proof[i]) ^ client_signature[i];
  }
  const bool proof_ok =
      constant_time_equal(as_view(sha256(as_view(client_key))), as_view(credentials_.stored_key));
  if (unknown_user_) return fail(Failure::kBadCredentials, "SCRAM: unknown user", "invalid-proof");
  if (!proof_ok) return fail(Failure::kBadCredentials, "SCRAM: invalid proof", "invalid-proof");

  const Sha256Digest server_signature = hmac_sha256(as_view(credentials_.server_key), auth_message);
  state_ = State::kAwaitAck;
  return challenge_step("v=" + base64_encode(as_view(server_signature)));
}

}  // namespace sealpost::sasl
