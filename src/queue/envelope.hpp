// The envelope of a queued message (RFC 5321 §2.3.1): reverse-path, forward-paths and the
// MAIL/RCPT parameters that delivery must honour — SMTPUTF8, BODY, the DSN extension
// (RFC 3461) and REQUIRETLS (RFC 8689). Plain data, shared by spool and delivery.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sealpost::queue {

// RFC 3461 §4.1 NOTIFY, as bits. No bit set: the client gave no NOTIFY, and the default
// applies (FAILURE, and DELAY at the MTA's discretion).
constexpr std::uint8_t kNotifySuccess = 0x01;
constexpr std::uint8_t kNotifyFailure = 0x02;
constexpr std::uint8_t kNotifyDelay = 0x04;
constexpr std::uint8_t kNotifyNever = 0x08;  // alone: never any DSN for this recipient

// The DSN parameters of one RCPT (RFC 3461 §4.1, §4.2).
struct RecipientDsn {
  std::uint8_t notify = 0;  // kNotify* bits; 0 = not given
  std::string orcpt_type;   // ORCPT addr-type, lower case: "rfc822" or "utf-8"; empty = none
  std::string orcpt;        // the original recipient, xtext (or RFC 6533 \x{}) decoded
  bool operator==(const RecipientDsn&) const = default;
};

// RFC 3461 §4.3 RET: what a failure DSN returns of the message.
enum class Ret : std::uint8_t { kUnspecified = 0, kFull = 1, kHdrs = 2 };

struct Envelope {
  std::string reverse_path;             // without angle brackets; empty = null path <>
  std::vector<std::string> recipients;  // forward-paths, without angle brackets
  bool smtputf8 = false;                // RFC 6531 SMTPUTF8 given on MAIL
  bool body_8bit = false;               // BODY=8BITMIME
  Ret ret = Ret::kUnspecified;          // RFC 3461 §4.3
  std::string envid{};                  // RFC 3461 §4.4 ENVID, xtext decoded; empty = none
  bool requiretls = false;              // RFC 8689 §4.1: every onward hop must use TLS
  // Empty when no RCPT carried NOTIFY or ORCPT; else one entry per recipient, in the order
  // of `recipients` (a parallel vector, so users of `recipients` need not know of DSN).
  std::vector<RecipientDsn> recipient_dsn{};

  // The DSN parameters of recipient i (defaults when none were given).
  RecipientDsn dsn_for(std::size_t i) const {
    return i < recipient_dsn.size() ? recipient_dsn[i] : RecipientDsn{};
  }
};

}  // namespace sealpost::queue
