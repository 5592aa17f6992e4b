// Reduced SASLprep for user names, authorization identities and passwords. Full SASLprep
// (RFC 4013: stringprep mapping, NFKC normalisation, bidi rules) is NOT implemented; instead we
// refuse the inputs where skipping it could matter most and otherwise compare bytes as given.
//
// Refused: byte strings that are not well-formed UTF-8 (RFC 3629: overlongs, surrogates,
// > U+10FFFF), C0 controls U+0000..U+001F, DEL U+007F and C1 controls U+0080..U+009F (the
// RFC 3454 C.2.1/C.2.2 ranges most likely to be used for log or protocol injection), and the
// empty string. Not done: mapping non-ASCII spaces to U+0020, removing "mapped to nothing"
// characters (e.g. U+00AD), NFKC. So a password typed with a different Unicode normal form on
// another client will not match; ASCII passwords are unaffected.
#pragma once

#include <cstddef>
#include <string_view>

namespace sealpost::sasl {

bool is_valid_utf8(std::string_view text);

// True when `text` is non-empty, at most `max_bytes` long, valid UTF-8 and free of controls.
bool acceptable_sasl_string(std::string_view text, std::size_t max_bytes);

}  // namespace sealpost::sasl
