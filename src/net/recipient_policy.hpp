// RCPT decisions for sealpostd: local domains accept only configured mailboxes (550 5.1.1);
// other domains are relay, refused to unauthenticated clients (554 5.7.1). In-memory only.
#pragma once

#include "delivery/mailbox_directory.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::net {

class LocalRecipientPolicy : public smtp::RecipientPolicy {
 public:
  explicit LocalRecipientPolicy(const delivery::MailboxDirectory& directory)
      : directory_(directory) {}
  smtp::Reply check_recipient(const smtp::Mailbox& recipient, bool authenticated) const override;

 private:
  const delivery::MailboxDirectory& directory_;
};

}  // namespace sealpost::net
