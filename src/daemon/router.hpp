// Decides where each recipient of a queued message goes and delivers it there: local domains
// to their Maildir, everything else (mail an authenticated user relayed) by remote delivery
// over SMTP under the outbound TLS policy. Called by the scheduler on its worker threads.
// Not wired into sealpostd yet: the scheduler calls per recipient, and remote delivery wants
// whole messages per destination domain (one SMTP transaction for all its recipients).
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "config/config.hpp"
#include "delivery/mailbox_directory.hpp"
#include "delivery/outcome.hpp"
#include "delivery/remote/remote_delivery.hpp"
#include "queue/spool_scan.hpp"

namespace sealpost::daemon {

class Router {
 public:
  // Fails with a one-line reason when the remote side cannot be set up (resolver options,
  // CA file, policy names).
  static std::expected<std::unique_ptr<Router>, std::string> create(
      const config::Config& config, const delivery::MailboxDirectory& directory);

  delivery::Outcome deliver(const queue::StoredMessage& message, unsigned rcpt_index);

 private:
  Router(const delivery::MailboxDirectory& directory,
         std::unique_ptr<delivery::remote::RemoteDelivery> remote)
      : directory_(directory), remote_(std::move(remote)) {}

  const delivery::MailboxDirectory& directory_;
  std::unique_ptr<delivery::remote::RemoteDelivery> remote_;
};

// The remote delivery options a configuration asks for.
std::expected<delivery::remote::RemoteOptions, std::string> remote_options(
    const config::Config& config);

}  // namespace sealpost::daemon
