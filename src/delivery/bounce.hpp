// Delivery status notifications (RFC 3464) as the scheduler sends them to the envelope sender
// when recipients fail permanently or expire, are delayed past [queue] delay_warning, or were
// delivered or relayed with NOTIFY=SUCCESS: a multipart/report (RFC 6522) with a human-readable
// part, a message/delivery-status part and the original message or only its header (as the
// caller decides from RET, or when the original is too large). UTF-8 addresses use the utf-8
// address type and message/global-delivery-status (RFC 6533).
// Pure: the caller supplies names, times and the boundary; nothing here touches the clock.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sealpost::delivery {

struct RecipientStatus {
  std::string final_recipient;     // the address delivery was attempted to
  std::string original_recipient;  // ORCPT as given by the client ("rfc822;a@b"), if any
  // RFC 3464 §2.3.3. kRelayed: handed to a server that will not report delivery itself.
  enum class Action { kFailed, kDelayed, kDelivered, kRelayed } action = Action::kFailed;
  std::string status;             // RFC 3463 code, "5.1.1"
  std::string remote_mta;         // "mx.example.org" when a remote server answered
  std::string diagnostic;         // the server's reply, "550 5.1.1 <a@b>: no such user"
  std::string last_attempt_date;  // RFC 5322 date-time, optional
  std::string will_retry_until;   // RFC 5322 date-time; only for kDelayed (RFC 3464 §2.3.9)
};

struct BounceRequest {
  std::string reporting_mta;  // our host name
  std::string sender;         // envelope sender the report goes to; never empty
  std::string queue_id;
  std::string envelope_id;   // ENVID (RFC 3461), optional
  std::string arrival_date;  // RFC 5322 date-time the original was received
  std::string date;          // RFC 5322 date-time for the report's Date:
  std::string message_id;    // for the report, without angle brackets
  std::string boundary;      // MIME boundary; must not occur in the content
  std::vector<RecipientStatus> recipients;
  std::string_view original;           // the original message as queued (headers + body)
  bool headers_only = false;           // RET=HDRS; success and delay reports unless RET=FULL
  std::size_t max_original = 1 << 20;  // larger originals are returned as headers only
};

// The complete report message (CRLF lines), or nullopt when there is no one to send it to
// (null reverse-path: RFC 5321 §6.1 and RFC 3464 §2: never bounce a bounce) or no recipient.
std::optional<std::string> make_bounce(const BounceRequest& request);

}  // namespace sealpost::delivery
