// Decides where each pending recipient of a queued message goes and delivers it there: local
// domains to their Maildir — or, with [delivery] lmtp (or a mailbox's own lmtp), to that LMTP
// server in one transaction per server for all of the message's recipients there —
// everything else (mail an authenticated user relayed, bounces to
// remote senders) by remote delivery over SMTP under the outbound TLS policy, one transaction
// per destination domain for all its recipients — or, with a [relay] smarthost, all of them to
// the smarthost in one transaction per message. Called by the scheduler on its worker threads,
// which also ask it where a message goes, for the per-destination limit ([queue]
// destination_concurrency). [queue] discard is the scheduler's: it never calls the router.
#pragma once

#include <chrono>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "delivery/mailbox_directory.hpp"
#include "delivery/outcome.hpp"
#include "delivery/remote/relay_delivery.hpp"
#include "delivery/remote/remote_delivery.hpp"
#include "queue/spool_scan.hpp"

namespace sealpost::daemon {

class Router {
 public:
  // Fails with a one-line reason when the remote side cannot be set up (resolver options,
  // CA file, policy names, the relay password file).
  static std::expected<std::unique_ptr<Router>, std::string> create(
      const config::Config& config, const delivery::MailboxDirectory& directory);

  // One outcome per entry of `rcpts` (indexes into the envelope's recipients), in order.
  std::vector<delivery::Outcome> deliver(const queue::StoredMessage& message,
                                         std::span<const unsigned> rcpts);
  // Where deliver() would take these recipients, one name per connection it may open: the
  // lower-case domain of each remote recipient, or "[host]:port" of the smarthost; nothing for
  // local recipients.
  std::vector<std::string> destinations(const queue::StoredMessage& message,
                                        std::span<const unsigned> rcpts) const;

 private:
  // Exactly one of remote and relay is set; relay_name names the smarthost's destination.
  Router(const delivery::MailboxDirectory& directory,
         std::unique_ptr<delivery::remote::RemoteDelivery> remote,
         std::unique_ptr<delivery::remote::RelayDelivery> relay, std::string relay_name)
      : directory_(directory),
        remote_(std::move(remote)),
        relay_(std::move(relay)),
        relay_name_(std::move(relay_name)) {}

  // Local recipients (positions in `rcpts`): Maildirs one by one, LMTP servers one
  // transaction each.
  void deliver_local(const queue::StoredMessage& message, std::span<const unsigned> rcpts,
                     const std::vector<std::size_t>& positions,
                     std::vector<delivery::Outcome>& outcomes) const;
  // The LMTP settings every router takes from the configuration, whichever remote path it has.
  static std::unique_ptr<Router> with_lmtp(std::unique_ptr<Router> router,
                                           const config::Config& config);
  // The lower-case domain of a remote recipient; nullopt for a local one.
  std::optional<std::string> remote_domain(const std::string& rcpt) const;
  // The message for the recipients at `positions` (indexes into `rcpts`).
  static smtp::OutgoingMessage outgoing(const queue::StoredMessage& message,
                                        std::span<const unsigned> rcpts,
                                        const std::vector<std::size_t>& positions);

  const delivery::MailboxDirectory& directory_;
  std::unique_ptr<delivery::remote::RemoteDelivery> remote_;
  std::unique_ptr<delivery::remote::RelayDelivery> relay_;
  std::string relay_name_;
  std::string lhlo_name_ = "localhost";     // our host name, for LHLO
  std::chrono::seconds lmtp_timeout_{300};  // [delivery] lmtp_timeout
};

// The remote delivery options a configuration asks for.
std::expected<delivery::remote::RemoteOptions, std::string> remote_options(
    const config::Config& config);
// The smarthost options of [relay] (config.relay.host set); reads the password file.
std::expected<delivery::remote::RelayOptions, std::string> relay_options(
    const config::Config& config);

}  // namespace sealpost::daemon
