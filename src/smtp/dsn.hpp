// The DSN extension's MAIL and RCPT parameters (RFC 3461 §4): RET, ENVID, NOTIFY and ORCPT —
// their syntax, limits and wire form. What they ask for (which DSNs to send, what to return)
// is the scheduler's business; here they are only parsed, validated and re-encoded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sealpost::smtp {

// RFC 3461 §4.1 NOTIFY, as bits (the same values as queue::kNotify*). 0 = not given.
constexpr std::uint8_t kNotifySuccess = 0x01;
constexpr std::uint8_t kNotifyFailure = 0x02;
constexpr std::uint8_t kNotifyDelay = 0x04;
constexpr std::uint8_t kNotifyNever = 0x08;  // only ever alone

// RFC 3461 §4.3 RET (the same values as queue::Ret).
enum class Ret : std::uint8_t { kUnspecified = 0, kFull = 1, kHdrs = 2 };

// The DSN parameters of one recipient (mirrors queue::RecipientDsn).
struct RecipientDsn {
  std::uint8_t notify = 0;  // kNotify* bits; 0 = not given
  std::string orcpt_type;   // "rfc822" or "utf-8"; empty = no ORCPT
  std::string orcpt;        // decoded original recipient
  bool operator==(const RecipientDsn&) const = default;
  bool empty() const { return notify == 0 && orcpt_type.empty(); }
};

// RFC 3461 §4: the lengths the extension adds to a command line bound each value as sent.
constexpr std::size_t kMaxEnvidLength = 100;  // §4.4 (MAIL grows by at most 100 for ENVID)
constexpr std::size_t kMaxOrcptLength = 500;  // §4.2 (RCPT grows by at most 500 for ORCPT)

// Each parser takes the parameter's value as sent and returns nullptr on success, else the
// text for a 501 5.5.4 reply.
const char* parse_ret(std::string_view value, Ret* out);
// xtext, decoding to printable US-ASCII (RFC 3461 §4.4).
const char* parse_envid(std::string_view value, std::string* out);
// "NEVER" alone, or a comma list of SUCCESS, FAILURE, DELAY without repeats; any case.
const char* parse_notify(std::string_view value, std::uint8_t* out);
// addr-type ";" value: "rfc822" with xtext decoding to printable US-ASCII (RFC 3461 §4.2), or
// "utf-8" with RFC 6533 §3 encoding decoding to UTF-8 without controls. Sets orcpt_type and
// orcpt of `out`.
const char* parse_orcpt(std::string_view value, RecipientDsn* out);

// Wire forms for the client side (values only, without "KEY=").
std::string_view format_ret(Ret ret);  // "FULL" / "HDRS"; empty for kUnspecified
std::string format_notify(std::uint8_t notify);
std::string format_orcpt(const RecipientDsn& dsn);  // "rfc822;..." xtext / "utf-8;..." 7-bit

}  // namespace sealpost::smtp
