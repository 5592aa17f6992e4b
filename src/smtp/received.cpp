// Received header construction. Every value in it came from the client or from TLS and was
// validated before (HELO syntax, address syntax), so no further escaping is needed here.
#include "smtp/received.hpp"

#include <cstdio>

namespace sealpost::smtp {

std::string rfc5322_date(std::time_t now) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string received_header(const Transaction& txn, std::string_view hostname,
                            std::string_view queue_id, std::time_t now, bool expose_user) {
  // RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 §3.7.3 (UTF8SMTP...SA).
  std::string with;
  if (txn.smtputf8) {
    with = "UTF8SMTP";
  } else if (txn.esmtp) {
    with = "ESMTP";
  } else {
    with = "SMTP";
  }
  if (with != "SMTP") {
    if (txn.tls.active) with += "S";
    if (!txn.auth_user.empty()) with += "A";
  }
  std::string h = "Received: from " + txn.helo + " ([" + txn.peer_address + "])\r\n";
  if (txn.tls.active) {
    h += "\t(using " + txn.tls.version + " with cipher " + txn.tls.cipher + " (" +
         std::to_string(txn.tls.bits) + " bits))\r\n";
  }
  if (expose_user && !txn.auth_user.empty())
    h += "\t(Authenticated sender: " + txn.auth_user + ")\r\n";
  h +=
      "\tby " + std::string(hostname) + " (Sealpost) with " + with + " id " + std::string(queue_id);
  // Name the recipient only when there is one: listing many would disclose Bcc recipients.
  // A folded line must start with WSP (RFC 5322 §2.2.3), so "; date" never begins one.
  if (txn.recipients.size() == 1) h += "\r\n\tfor <" + txn.recipients.front() + ">";
  h += "; " + rfc5322_date(now) + "\r\n";
  return h;
}

}  // namespace sealpost::smtp
