// The Received trace header (RFC 5321 §4.4) that sealpostd prepends to every message. It
// records the TLS version and cipher (RFC 8314 §4.3) and the RFC 3848 / RFC 6531 "with"
// protocol token. Pure: the caller supplies the queue id and the time.
#pragma once

#include <ctime>
#include <string>
#include <string_view>

#include "smtp/server_session.hpp"

namespace sealpost::smtp {

// "Received: from ... ; Sun, 29 Nov 2026 10:00:00 +0000\r\n", folded with CRLF TAB.
// expose_user: name the authenticated user (Postfix's smtpd_sasl_authenticated_header); off by
// default because it tells every recipient the sender's login.
std::string received_header(const Transaction& txn, std::string_view hostname,
                            std::string_view queue_id, std::time_t now, bool expose_user = false);

// RFC 5322 §3.3 date-time in UTC: "Sun, 29 Nov 2026 10:00:00 +0000".
std::string rfc5322_date(std::time_t now);

}  // namespace sealpost::smtp
