// DSN parameter syntax (RFC 3461 §4.1–§4.4, RFC 6533 §3 for ORCPT=utf-8). Pure functions.
#include "smtp/dsn.hpp"

#include "smtp/address.hpp"
#include "smtp/xtext.hpp"

namespace sealpost::smtp {

namespace {

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return true;
  return false;
}

}  // namespace

const char* parse_ret(std::string_view value, Ret* out) {
  if (is_ascii_case_equal(value, "FULL")) {
    *out = Ret::kFull;
  } else if (is_ascii_case_equal(value, "HDRS")) {
    *out = Ret::kHdrs;
  } else {
    return "Bad RET parameter (FULL or HDRS)";
  }
  return nullptr;
}

const char* parse_envid(std::string_view value, std::string* out) {
  if (value.size() > kMaxEnvidLength) return "ENVID parameter too long (at most 100 characters)";
  std::optional<std::string> decoded = xtext_decode(value);
  if (!decoded) return "Bad ENVID parameter (not xtext)";
  // RFC 3461 §4.4: printable US-ASCII only; it is copied into the DSN's Original-Envelope-Id.
  if (decoded->empty() || !is_printable_ascii(*decoded))
    return "Bad ENVID parameter (printable US-ASCII only)";
  *out = std::move(*decoded);
  return nullptr;
}

const char* parse_notify(std::string_view value, std::uint8_t* out) {
  std::uint8_t bits = 0;
  while (true) {
    std::size_t comma = value.find(',');
    std::string_view word = value.substr(0, comma);
    std::uint8_t bit = 0;
    if (is_ascii_case_equal(word, "NEVER")) {
      bit = kNotifyNever;
    } else if (is_ascii_case_equal(word, "SUCCESS")) {
      bit = kNotifySuccess;
    } else if (is_ascii_case_equal(word, "FAILURE")) {
      bit = kNotifyFailure;
    } else if (is_ascii_case_equal(word, "DELAY")) {
      bit = kNotifyDelay;
    } else {
      return "Bad NOTIFY parameter (NEVER, or SUCCESS, FAILURE, DELAY)";
    }
    if ((bits & bit) != 0) return "Bad NOTIFY parameter (keyword repeated)";
    bits |= bit;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  // RFC 3461 §4.1: "NEVER" MUST NOT appear with any other keyword.
  if ((bits & kNotifyNever) != 0 && bits != kNotifyNever)
    return "Bad NOTIFY parameter (NEVER must be alone)";
  *out = bits;
  return nullptr;
}

const char* parse_orcpt(std::string_view value, RecipientDsn* out) {
  if (value.size() > kMaxOrcptLength) return "ORCPT parameter too long (at most 500 characters)";
  std::size_t semi = value.find(';');
  if (semi == std::string_view::npos) return "Bad ORCPT parameter (addr-type;address)";
  std::string_view type = value.substr(0, semi), address = value.substr(semi + 1);
  if (address.empty()) return "Bad ORCPT parameter (empty address)";
  if (is_ascii_case_equal(type, "rfc822")) {
    std::optional<std::string> decoded = xtext_decode(address);
    if (!decoded) return "Bad ORCPT parameter (not xtext)";
    // RFC 3461 §4.2: the original address is printable US-ASCII before xtext encoding.
    if (!is_printable_ascii(*decoded)) return "Bad ORCPT parameter (printable US-ASCII only)";
    out->orcpt_type = "rfc822";
    out->orcpt = std::move(*decoded);
  } else if (is_ascii_case_equal(type, "utf-8")) {
    std::optional<std::string> decoded = utf8_addr_decode(address);
    if (!decoded || has_control(*decoded)) return "Bad ORCPT parameter (RFC 6533 utf-8 address)";
    out->orcpt_type = "utf-8";
    out->orcpt = std::move(*decoded);
  } else {
    return "Unsupported ORCPT address type (rfc822 or utf-8)";
  }
  return nullptr;
}

std::string_view format_ret(Ret ret) {
  switch (ret) {
    case Ret::kFull:
      return "FULL";
    case Ret::kHdrs:
      return "HDRS";
    case Ret::kUnspecified:
      break;
  }
  return {};
}

std::string format_notify(std::uint8_t notify) {
  if ((notify & kNotifyNever) != 0) return "NEVER";
  std::string out;
  auto add = [&](std::uint8_t bit, std::string_view word) {
    if ((notify & bit) == 0) return;
    if (!out.empty()) out += ',';
    out += word;
  };
  add(kNotifySuccess, "SUCCESS");
  add(kNotifyFailure, "FAILURE");
  add(kNotifyDelay, "DELAY");
  return out;
}

std::string format_orcpt(const RecipientDsn& dsn) {
  if (dsn.orcpt_type == "utf-8") return "utf-8;" + utf8_addr_encode(dsn.orcpt);
  return dsn.orcpt_type + ";" + xtext_encode(dsn.orcpt);
}

}  // namespace sealpost::smtp
