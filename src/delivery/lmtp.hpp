// Local delivery over LMTP (RFC 2033), e.g. into Dovecot: one connection (unix socket or TCP)
// and one transaction for all of a message's recipients on that server, each recipient
// decided by its own reply after the data (§4.2). Blocking, bounded by one timeout; run on the
// scheduler's delivery threads like delivery::Maildir. No TLS, no AUTH: a local hand-off.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "delivery/outcome.hpp"
#include "smtp/client_session.hpp"

namespace sealpost::delivery {

class Lmtp {
 public:
  Lmtp(config::LmtpTarget target, std::string lhlo_name, std::chrono::seconds timeout)
      : target_(std::move(target)), lhlo_name_(std::move(lhlo_name)), timeout_(timeout) {}

  // One outcome per message.recipients entry, in order: 2xx Delivered, 4xx TempFail, 5xx
  // PermFail (the server's reply); a failed connection or session defers every recipient it
  // left undecided. DSN parameters and REQUIRETLS are not passed on: this is final delivery,
  // and success reports stay ours. `queue_id` is for the log line.
  std::vector<Outcome> deliver(std::string_view queue_id, smtp::OutgoingMessage message) const;

  const config::LmtpTarget& target() const { return target_; }

 private:
  config::LmtpTarget target_;
  std::string lhlo_name_;
  std::chrono::seconds timeout_;
};

}  // namespace sealpost::delivery
