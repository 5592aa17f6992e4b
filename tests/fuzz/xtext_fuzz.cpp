// libFuzzer target for the DSN value codecs and parsers (smtp/xtext.hpp, smtp/dsn.hpp):
// xtext_decode, utf8_addr_decode and parse_ret/envid/notify/orcpt. Checks that whatever
// decodes re-encodes to the canonical form and decodes back to itself, that encoders always
// produce 7-bit text the decoders take, and that accepted parameters respect their limits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "smtp/address.hpp"
#include "smtp/dsn.hpp"
#include "smtp/xtext.hpp"

namespace {

using namespace sealpost::smtp;

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "invariant violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

bool seven_bit_printable(std::string_view s) {
  for (unsigned char c : s)
    if (c < 33 || c > 126) return false;
  return true;
}

void check_xtext(std::string_view in) {
  // Encoding any bytes gives xtext that decodes back to them.
  std::string encoded = xtext_encode(in);
  if (!seven_bit_printable(encoded)) fail("xtext_encode not 7-bit printable", in);
  std::optional<std::string> back = xtext_decode(encoded);
  if (!back || *back != in) fail("xtext round trip", in);
  // Whatever decodes is the canonical encoding of its result, up to escapes of plain chars.
  if (std::optional<std::string> decoded = xtext_decode(in)) {
    if (decoded->size() > in.size()) fail("xtext decode grew", in);
    if (xtext_decode(xtext_encode(*decoded)) != decoded) fail("xtext re-encode", in);
  }
}

void check_utf8_addr(std::string_view in) {
  if (std::optional<std::string> decoded = utf8_addr_decode(in)) {
    if (!is_valid_utf8(*decoded)) fail("utf8_addr_decode gave bad UTF-8", in);
    std::string encoded = utf8_addr_encode(*decoded);
    if (!seven_bit_printable(encoded)) fail("utf8_addr_encode not 7-bit", in);
    if (utf8_addr_decode(encoded) != decoded) fail("utf8_addr round trip", in);
  }
  if (is_valid_utf8(in) && in.find('\0') == std::string_view::npos) {
    std::string encoded = utf8_addr_encode(in);
    if (utf8_addr_decode(encoded) != std::optional<std::string>(std::string(in)))
      fail("utf8_addr encode/decode", in);
  }
}

void check_params(std::string_view in) {
  Ret ret = Ret::kUnspecified;
  if (parse_ret(in, &ret) == nullptr && format_ret(ret).size() != 4) fail("RET", in);
  std::string envid;
  if (parse_envid(in, &envid) == nullptr) {
    if (in.size() > kMaxEnvidLength || !is_printable_ascii(envid) || envid.empty())
      fail("ENVID accepted out of bounds", in);
  }
  std::uint8_t notify = 0;
  if (parse_notify(in, &notify) == nullptr) {
    if (notify == 0 || ((notify & kNotifyNever) != 0 && notify != kNotifyNever))
      fail("NOTIFY combination", in);
    std::uint8_t again = 0;
    if (parse_notify(format_notify(notify), &again) != nullptr || again != notify)
      fail("NOTIFY round trip", in);
  }
  RecipientDsn dsn;
  if (parse_orcpt(in, &dsn) == nullptr) {
    if (in.size() > kMaxOrcptLength) fail("ORCPT too long", in);
    if (dsn.orcpt_type != "rfc822" && dsn.orcpt_type != "utf-8") fail("ORCPT type", in);
    RecipientDsn again;
    if (parse_orcpt(format_orcpt(dsn), &again) == nullptr && again != dsn)
      fail("ORCPT round trip", in);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  check_xtext(in);
  check_utf8_addr(in);
  check_params(in);
  return 0;
}
