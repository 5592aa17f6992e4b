// SCRAM message grammar (RFC 5802 §7) shared by the server and client mechanisms: saslname
// escaping, the GS2 header, and parsers for the four messages. Parsers check syntax and
// limits only; nonces, proofs and channel binding are judged by the mechanisms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sealpost::sasl::scram {

// A parser's answer: a value, or a short static reason for the log.
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string_view error;
};

// saslname: "," and "=" written as "=2C" and "=3D" (§5.1). decode refuses any other "=",
// a raw ",", NUL, and names failing the reduced SASLprep (saslprep.hpp).
std::optional<std::string> decode_saslname(std::string_view text);
std::string encode_saslname(std::string_view name);

// printable = %x21-2B / %x2D-7E: the nonce alphabet (no ',').
bool is_printable(std::string_view text);

enum class CbindFlag { kNotSupported /* n */, kServerLacksIt /* y */, kUsed /* p=... */ };

struct ClientFirst {
  std::string gs2_header;  // "n,," / "y,," / "p=tls-exporter,," (+ authzid), as sent
  std::string bare;        // client-first-message-bare, as sent (part of AuthMessage)
  CbindFlag cbind_flag = CbindFlag::kNotSupported;
  std::string cb_name;   // for kUsed
  std::string authzid;   // decoded; empty if absent
  std::string username;  // decoded
  std::string nonce;     // c-nonce
};
Parsed<ClientFirst> parse_client_first(std::string_view message);

struct ServerFirst {
  std::string nonce;  // c-nonce + s-nonce
  std::string salt;   // decoded
  std::uint32_t iterations = 0;
};
Parsed<ServerFirst> parse_server_first(std::string_view message);

struct ClientFinal {
  std::string without_proof;    // client-final-message-without-proof, as sent
  std::string channel_binding;  // decoded c= (gs2 header + cbind data)
  std::string nonce;
  std::string proof;  // decoded p=
};
Parsed<ClientFinal> parse_client_final(std::string_view message);

struct ServerFinal {
  std::optional<std::string> verifier;  // decoded v=
  std::string error;                    // e= server-error-value when verifier is absent
};
Parsed<ServerFinal> parse_server_final(std::string_view message);

}  // namespace sealpost::sasl::scram
