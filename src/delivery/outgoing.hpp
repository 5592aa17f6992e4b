// The onward SMTP transaction for some recipients of a queued message: the envelope's
// reverse-path, SMTPUTF8, DSN parameters (RFC 3461 §4: passed on as given) and REQUIRETLS
// (RFC 8689: it travels with the message to every hop), in smtp::ClientSession's terms.
#pragma once

#include <span>

#include "queue/spool_scan.hpp"
#include "smtp/client_session.hpp"

namespace sealpost::delivery {

// `rcpts`: indexes into message.envelope.recipients, in the order wanted.
smtp::OutgoingMessage outgoing_message(const queue::StoredMessage& message,
                                       std::span<const unsigned> rcpts);

}  // namespace sealpost::delivery
