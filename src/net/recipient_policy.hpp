// MAIL and RCPT decisions for sealpostd: local domains accept only configured mailboxes
// (550 5.1.1); other domains are relay, refused unless authenticated (554 5.7.1); an
// authenticated user may only send as its own addresses (553 5.7.1). In-memory only.
#pragma once

#include <functional>
#include <string>

#include "delivery/mailbox_directory.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::net {

class LocalPolicy : public smtp::SessionPolicy {
 public:
  // may_send_as(user, address): whether the authenticated user owns the address.
  using SenderCheck = std::function<bool(const std::string& user, const std::string& address)>;

  LocalPolicy(const delivery::MailboxDirectory& directory, SenderCheck may_send_as)
      : directory_(directory), may_send_as_(std::move(may_send_as)) {}

  smtp::Reply check_sender(const smtp::Mailbox& sender, bool null_path,
                           const std::string& user) const override;
  smtp::Reply check_recipient(const smtp::Mailbox& recipient,
                              const std::string& user) const override;

 private:
  const delivery::MailboxDirectory& directory_;
  SenderCheck may_send_as_;
};

}  // namespace sealpost::net
