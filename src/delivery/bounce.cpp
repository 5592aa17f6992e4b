#include "delivery/bounce.hpp"

#include <algorithm>

#include "smtp/message_text.hpp"

namespace sealpost::delivery {

namespace {

bool is_ascii(std::string_view s) { return !smtp::has_8bit(s); }

// Diagnostic text goes into a header-like field: no line breaks may survive.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
  return out;
}

std::string address_field(std::string_view address) {
  return std::string(is_ascii(address) ? "rfc822;" : "utf-8;") + std::string(address);
}

const char* action_name(RecipientStatus::Action a) {
  switch (a) {
    case RecipientStatus::Action::kFailed:
      return "failed";
    case RecipientStatus::Action::kDelayed:
      return "delayed";
    case RecipientStatus::Action::kDelivered:
      return "delivered";
    case RecipientStatus::Action::kRelayed:
      return "relayed";
  }
  return "failed";
}

// What the report is about, for its Subject and its words to a human: a failure if any
// recipient failed, else a delay if any is delayed, else a success.
enum class Kind { kFailure, kDelay, kSuccess };

Kind kind_of(const std::vector<RecipientStatus>& recipients) {
  Kind kind = Kind::kSuccess;
  for (const auto& rcpt : recipients) {
    if (rcpt.action == RecipientStatus::Action::kFailed) return Kind::kFailure;
    if (rcpt.action == RecipientStatus::Action::kDelayed) kind = Kind::kDelay;
  }
  return kind;
}

const char* subject_of(Kind kind) {
  switch (kind) {
    case Kind::kFailure:
      return "Undelivered Mail Returned to Sender";
    case Kind::kDelay:
      return "Delayed Mail (still being retried)";
    case Kind::kSuccess:
      return "Successful Mail Delivery Report";
  }
  return "";
}

const char* summary_of(Kind kind) {
  switch (kind) {
    case Kind::kFailure:
      return "Your message could not be delivered to one or more recipients.\r\n";
    case Kind::kDelay:
      return "Your message has not been delivered yet; delivery is still being tried.\r\n";
    case Kind::kSuccess:
      return "Your message was delivered to the mailbox of the recipients marked \"delivered\".\r\n"
             "Those marked \"relayed\" were handed to a server that will not report\r\n"
             "whether it delivers them.\r\n";
  }
  return "";
}

}  // namespace

std::optional<std::string> make_bounce(const BounceRequest& r) {
  if (r.sender.empty() || r.recipients.empty()) return std::nullopt;
  bool utf8 = !is_ascii(r.sender);
  for (const auto& rcpt : r.recipients)
    utf8 = utf8 || !is_ascii(rcpt.final_recipient) || !is_ascii(rcpt.original_recipient);
  // RFC 6532 §3.7: an original with UTF-8 header fields is attached as message/global (its
  // headers as message/global-headers), whatever the addresses.
  const bool utf8_original = utf8 || smtp::has_8bit(smtp::header_section(r.original));
  const Kind kind = kind_of(r.recipients);
  const bool failure = kind == Kind::kFailure;
  const bool headers_only = r.headers_only || r.original.size() > r.max_original;
  const std::string b = r.boundary;
  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + r.reporting_mta + ">\r\n";
  m += "To: <" + r.sender + ">\r\n";
  m += std::string("Subject: ") + subject_of(kind) + "\r\n";
  m += "Date: " + r.date + "\r\n";
  m += "Message-ID: <" + r.message_id + ">\r\n";
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834: no auto-replies to this
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  m += "\tboundary=\"" + b + "\"\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  m += "--" + b + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Description: Notification\r\n\r\n";
  m += "This is the mail system at " + r.reporting_mta + ".\r\n\r\n";
  m += summary_of(kind);
  // Say what the third part really holds: a headers-only report carries no body.
  m += std::string(headers_only ? "Its headers are attached below" : "It is attached below") +
       " (queue id " + r.queue_id + ").\r\n\r\n";
  for (const auto& rcpt : r.recipients) {
    m += "<" + rcpt.final_recipient + ">: " + action_name(rcpt.action);
    if (!rcpt.diagnostic.empty()) m += ": " + one_line(rcpt.diagnostic);
    if (!rcpt.remote_mta.empty()) m += " (from " + one_line(rcpt.remote_mta) + ")";
    m += "\r\n";
  }
  m += "\r\n";

  m += "--" + b + "\r\n";
  m += utf8 ? "Content-Type: message/global-delivery-status\r\n"
            : "Content-Type: message/delivery-status\r\n";
  m += "Content-Description: Delivery report\r\n\r\n";
  m += "Reporting-MTA: dns; " + r.reporting_mta + "\r\n";
  m += "X-Sealpost-Queue-ID: " + r.queue_id + "\r\n";
  if (!r.envelope_id.empty()) m += "Original-Envelope-Id: " + one_line(r.envelope_id) + "\r\n";
  if (!r.arrival_date.empty()) m += "Arrival-Date: " + r.arrival_date + "\r\n";
  for (const auto& rcpt : r.recipients) {
    m += "\r\n";
    if (!rcpt.original_recipient.empty())
      m += "Original-Recipient: " + one_line(rcpt.original_recipient) + "\r\n";
    m += "Final-Recipient: " + address_field(one_line(rcpt.final_recipient)) + "\r\n";
    m += std::string("Action: ") + action_name(rcpt.action) + "\r\n";
    m += "Status: " + one_line(rcpt.status) + "\r\n";
    if (!rcpt.remote_mta.empty()) m += "Remote-MTA: dns; " + one_line(rcpt.remote_mta) + "\r\n";
    if (!rcpt.diagnostic.empty())
      m += "Diagnostic-Code: smtp; " + one_line(rcpt.diagnostic) + "\r\n";
    if (!rcpt.last_attempt_date.empty())
      m += "Last-Attempt-Date: " + rcpt.last_attempt_date + "\r\n";
    if (rcpt.action == RecipientStatus::Action::kDelayed && !rcpt.will_retry_until.empty())
      m += "Will-Retry-Until: " + rcpt.will_retry_until + "\r\n";
  }
  m += "\r\n";

  m += "--" + b + "\r\n";
  if (headers_only) {
    m += utf8_original ? "Content-Type: message/global-headers\r\n"
                       : "Content-Type: text/rfc822-headers\r\n";
    m += failure ? "Content-Description: Undelivered message headers\r\n\r\n"
                 : "Content-Description: Message headers\r\n\r\n";
    std::string_view h = smtp::header_section(r.original);
    m += h;
    if (!h.ends_with("\r\n")) m += "\r\n";
  } else {
    m += utf8_original ? "Content-Type: message/global\r\n" : "Content-Type: message/rfc822\r\n";
    m += failure ? "Content-Description: Undelivered message\r\n\r\n"
                 : "Content-Description: Message\r\n\r\n";
    m += r.original;
    if (!r.original.ends_with("\r\n")) m += "\r\n";
  }
  m += "\r\n--" + b + "--\r\n";
  return m;
}

}  // namespace sealpost::delivery
