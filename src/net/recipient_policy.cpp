// Recipient policy. Address literals are never local: we do not accept mail for our IPs.
#include "net/recipient_policy.hpp"

namespace sealpost::net {

smtp::Reply LocalRecipientPolicy::check_recipient(const smtp::Mailbox& recipient,
                                                  bool authenticated) const {
  // <Postmaster> without a domain (RFC 5321 §4.1.1.3) is ours by definition.
  if (recipient.domain.empty()) {
    if (directory_.find("postmaster@localhost") || directory_.is_local_domain("localhost"))
      return smtp::make_reply(250, "2.1.5", "Ok");
  }
  if (directory_.is_local_domain(recipient.domain)) {
    if (directory_.find(recipient.text())) return smtp::make_reply(250, "2.1.5", "Ok");
    return smtp::make_reply(550, "5.1.1", "<" + recipient.text() + ">: User unknown");
  }
  if (authenticated) return smtp::make_reply(250, "2.1.5", "Ok");
  return smtp::make_reply(554, "5.7.1", "<" + recipient.text() + ">: Relay access denied");
}

}  // namespace sealpost::net
