// Session policy. Address literals are never local: we do not accept mail for our IPs.
#include "net/recipient_policy.hpp"

namespace sealpost::net {

smtp::Reply LocalPolicy::check_sender(const smtp::Mailbox& sender, bool null_path,
                                      const std::string& user) const {
  // Unauthenticated senders are judged by their recipients (local only); <> is for bounces.
  if (user.empty() || null_path) return smtp::make_reply(250, "2.1.0", "Ok");
  if (may_send_as_ && may_send_as_(user, sender.text()))
    return smtp::make_reply(250, "2.1.0", "Ok");
  return smtp::make_reply(553, "5.7.1",
                          "<" + sender.text() + ">: Sender address not owned by user " + user);
}

smtp::Reply LocalPolicy::check_recipient(const smtp::Mailbox& recipient,
                                         const std::string& user) const {
  // <Postmaster> without a domain (RFC 5321 §4.1.1.3) is ours by definition.
  if (recipient.domain.empty()) return smtp::make_reply(250, "2.1.5", "Ok");
  if (directory_.is_local_domain(recipient.domain)) {
    if (directory_.find(recipient.text())) return smtp::make_reply(250, "2.1.5", "Ok");
    return smtp::make_reply(550, "5.1.1", "<" + recipient.text() + ">: User unknown");
  }
  // Remote recipients from an authenticated user are queued for remote delivery (issue 6).
  if (!user.empty()) return smtp::make_reply(250, "2.1.5", "Ok");
  return smtp::make_reply(554, "5.7.1", "<" + recipient.text() + ">: Relay access denied");
}

}  // namespace sealpost::net
