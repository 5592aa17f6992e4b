// Strict base64 (RFC 4648 §4, standard alphabet, padded) for SMTP AUTH (RFC 4954 §4) and SCRAM
// attributes. Decoding refuses anything a canonical encoder would not produce: characters outside
// the alphabet, whitespace, missing or misplaced padding, and non-zero pad bits (§3.5).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sealpost::sasl {

std::string base64_encode(std::string_view bytes);

// nullopt for any non-canonical input; "" decodes to "".
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sealpost::sasl
