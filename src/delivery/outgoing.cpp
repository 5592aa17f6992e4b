#include "delivery/outgoing.hpp"

namespace sealpost::delivery {

smtp::OutgoingMessage outgoing_message(const queue::StoredMessage& message,
                                       std::span<const unsigned> rcpts) {
  const queue::Envelope& e = message.envelope;
  smtp::OutgoingMessage out;
  out.reverse_path = e.reverse_path;
  out.content = message.content;
  out.smtputf8 = e.smtputf8;
  out.require_tls = e.requiretls;
  out.ret = static_cast<smtp::Ret>(e.ret);  // the same values (smtp/dsn.hpp)
  out.envid = e.envid;
  const bool any_dsn = !e.recipient_dsn.empty();
  for (unsigned i : rcpts) {
    out.recipients.push_back(e.recipients.at(i));
    if (!any_dsn) continue;
    const queue::RecipientDsn d = e.dsn_for(i);
    out.recipient_dsn.push_back(smtp::RecipientDsn{d.notify, d.orcpt_type, d.orcpt});
  }
  return out;
}

}  // namespace sealpost::delivery
