// SCRAM message parsers (RFC 5802 §7 grammar). Strict: attributes in the order the ABNF gives,
// "m=" mandatory extensions refused (§5.1: "the server MUST fail" if it does not support them),
// optional extensions accepted only where the ABNF has them and only with fresh letters.
#include "sasl/scram_message.hpp"

#include <vector>

#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/saslprep.hpp"

namespace sealpost::sasl::scram {
namespace {

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  std::size_t begin = 0;
  while (true) {
    const std::size_t comma = text.find(',', begin);
    parts.push_back(text.substr(begin, comma - begin));
    if (comma == std::string_view::npos) break;
    begin = comma + 1;
  }
  return parts;
}

// The value of "<name>=<value>", or nullopt if `part` is not that attribute.
std::optional<std::string_view> attribute(std::string_view part, char name) {
  if (part.size() < 2 || part[0] != name || part[1] != '=') return std::nullopt;
  return part.substr(2);
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// attr-val = ALPHA "=" value; value = 1*value-char (UTF-8, no NUL, no ','). Letters the RFC
// already uses are not extensions: a repeated or misplaced known attribute is a syntax error.
bool is_extension(std::string_view part) {
  constexpr std::string_view kKnown = "acimnprsve";
  if (part.size() < 3 || !is_alpha(part[0]) || part[1] != '=') return false;
  if (kKnown.find(part[0]) != std::string_view::npos) return false;
  const std::string_view value = part.substr(2);
  return value.find('\0') == std::string_view::npos && is_valid_utf8(value);
}

bool all_extensions(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  for (std::size_t i = from; i < to; ++i) {
    if (!is_extension(parts[i])) return false;
  }
  return true;
}

// posit-number = %x31-39 *DIGIT (§7), bounded by kMaxScramIterations.
std::optional<std::uint32_t> parse_iterations(std::string_view text) {
  if (text.empty() || text.size() > 9 || text[0] < '1' || text[0] > '9') return std::nullopt;
  std::uint32_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (n > kMaxScramIterations) return std::nullopt;
  return n;
}

}  // namespace

std::optional<std::string> decode_saslname(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ',') return std::nullopt;
    if (c != '=') {
      out += c;
      continue;
    }
    // §5.1: "=" not followed by "2C" or "3D" makes the server fail the exchange.
    const std::string_view esc = text.substr(i + 1, 2);
    if (esc == "2C") {
      out += ',';
    } else if (esc == "3D") {
      out += '=';
    } else {
      return std::nullopt;
    }
    i += 2;
  }
  if (!acceptable_sasl_string(out, kMaxNameBytes)) return std::nullopt;
  return out;
}

std::string encode_saslname(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == ',') {
      out += "=2C";
    } else if (c == '=') {
      out += "=3D";
    } else {
      out += c;
    }
  }
  return out;
}

bool is_printable(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  }
  return true;
}

Parsed<ClientFirst> parse_client_first(std::string_view message) {
  if (message.size() > kMaxResponseBytes) return {{}, "client-first too long"};
  const std::vector<std::string_view> parts = split_commas(message);
  // gs2-header = gs2-cbind-flag "," [authzid] "," ; then [reserved-mext ","] username "," nonce
  if (parts.size() < 4) return {{}, "client-first: too few attributes"};
  ClientFirst out;
  if (parts[0] == "n") {
    out.cbind_flag = CbindFlag::kNotSupported;
  } else if (parts[0] == "y") {
    out.cbind_flag = CbindFlag::kServerLacksIt;
  } else if (auto name = attribute(parts[0], 'p')) {
    // cb-name = 1*(ALPHA / DIGIT / "." / "-") (§7)
    if (name->empty() || name->size() > 64) return {{}, "client-first: bad cb-name"};
    for (char c : *name) {
      if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '.' && c != '-') {
        return {{}, "client-first: bad cb-name"};
      }
    }
    out.cbind_flag = CbindFlag::kUsed;
    out.cb_name = *name;
  } else {
    return {{}, "client-first: bad gs2-cbind-flag"};
  }
  if (!parts[1].empty()) {
    auto authzid = attribute(parts[1], 'a');
    if (!authzid) return {{}, "client-first: bad authzid attribute"};
    auto decoded = decode_saslname(*authzid);
    if (!decoded) return {{}, "client-first: unacceptable authzid"};
    out.authzid = std::move(*decoded);
  }
  out.gs2_header = message.substr(0, parts[0].size() + parts[1].size() + 2);
  out.bare = message.substr(out.gs2_header.size());
  if (attribute(parts[2], 'm')) return {{}, "client-first: unsupported mandatory extension"};
  auto username = attribute(parts[2], 'n');
  if (!username) return {{}, "client-first: missing username"};
  auto decoded = decode_saslname(*username);
  if (!decoded) return {{}, "client-first: unacceptable username"};
  out.username = std::move(*decoded);
  auto nonce = attribute(parts[3], 'r');
  if (!nonce || !is_printable(*nonce) || nonce->size() > kMaxNonceBytes) {
    return {{}, "client-first: missing or bad nonce"};
  }
  out.nonce = *nonce;
  if (!all_extensions(parts, 4, parts.size())) return {{}, "client-first: bad extension"};
  return {std::move(out), {}};
}

Parsed<ServerFirst> parse_server_first(std::string_view message) {
  if (message.size() > kMaxResponseBytes) return {{}, "server-first too long"};
  const std::vector<std::string_view> parts = split_commas(message);
  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," ext]
  if (!parts.empty() && attribute(parts[0], 'm')) {
    return {{}, "server-first: unsupported mandatory extension"};
  }
  if (parts.size() < 3) return {{}, "server-first: too few attributes"};
  ServerFirst out;
  auto nonce = attribute(parts[0], 'r');
  if (!nonce || !is_printable(*nonce) || nonce->size() > 2 * kMaxNonceBytes) {
    return {{}, "server-first: missing or bad nonce"};
  }
  out.nonce = *nonce;
  auto salt = attribute(parts[1], 's');
  std::optional<std::string> decoded = salt ? base64_decode(*salt) : std::nullopt;
  if (!decoded || decoded->empty()) return {{}, "server-first: missing or bad salt"};
  out.salt = std::move(*decoded);
  auto iterations = attribute(parts[2], 'i');
  std::optional<std::uint32_t> count = iterations ? parse_iterations(*iterations) : std::nullopt;
  if (!count) return {{}, "server-first: missing or bad iteration count"};
  out.iterations = *count;
  if (!all_extensions(parts, 3, parts.size())) return {{}, "server-first: bad extension"};
  return {std::move(out), {}};
}

Parsed<ClientFinal> parse_client_final(std::string_view message) {
  if (message.size() > kMaxResponseBytes) return {{}, "client-final too long"};
  const std::vector<std::string_view> parts = split_commas(message);
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  if (parts.size() < 3) return {{}, "client-final: too few attributes"};
  ClientFinal out;
  auto cbind = attribute(parts[0], 'c');
  std::optional<std::string> cbind_data = cbind ? base64_decode(*cbind) : std::nullopt;
  if (!cbind_data) return {{}, "client-final: missing or bad channel-binding"};
  out.channel_binding = std::move(*cbind_data);
  auto nonce = attribute(parts[1], 'r');
  if (!nonce || !is_printable(*nonce)) return {{}, "client-final: missing or bad nonce"};
  out.nonce = *nonce;
  if (!all_extensions(parts, 2, parts.size() - 1)) return {{}, "client-final: bad extension"};
  auto proof = attribute(parts.back(), 'p');
  std::optional<std::string> proof_data = proof ? base64_decode(*proof) : std::nullopt;
  if (!proof_data) return {{}, "client-final: missing or bad proof"};
  out.proof = std::move(*proof_data);
  out.without_proof = message.substr(0, message.size() - parts.back().size() - 1);
  return {std::move(out), {}};
}

Parsed<ServerFinal> parse_server_final(std::string_view message) {
  if (message.size() > kMaxResponseBytes) return {{}, "server-final too long"};
  const std::vector<std::string_view> parts = split_commas(message);
  // server-final-message = (server-error / verifier) ["," extensions]
  if (!all_extensions(parts, 1, parts.size())) return {{}, "server-final: bad extension"};
  ServerFinal out;
  if (auto error = attribute(parts[0], 'e')) {
    if (!is_printable(*error)) return {{}, "server-final: bad server-error"};
    out.error = *error;
    return {std::move(out), {}};
  }
  auto verifier = attribute(parts[0], 'v');
  std::optional<std::string> decoded = verifier ? base64_decode(*verifier) : std::nullopt;
  if (!decoded) return {{}, "server-final: missing or bad verifier"};
  out.verifier = std::move(*decoded);
  return {std::move(out), {}};
}

}  // namespace sealpost::sasl::scram
