// Delivery outcomes: the only three things a delivery attempt can report (DESIGN.md).
// The scheduler decides retry versus bounce from the outcome alone; a Delivered one also says
// enough for a success DSN (RFC 3461 §5.2.2, §5.2.3): mailbox or next hop, and who that was.
#pragma once

#include <string>
#include <variant>

namespace sealpost::delivery {

struct Delivered {
  // Local delivery leaves these empty: the message is in the recipient's mailbox ("delivered").
  // Remote delivery sets relayed: another SMTP server took responsibility for it. When that
  // server also took NOTIFY/ORCPT/RET/ENVID (it offered DSN), success reports are its job, not
  // ours; else we owe a "relayed" DSN to a recipient who asked for NOTIFY=SUCCESS.
  bool relayed = false;
  bool dsn_passed_on = false;
  std::string remote_mta;  // the server's host name (MX or smarthost), for Remote-MTA
  std::string reply;       // its reply to the message, "250 2.0.0 Ok: queued as 4XyZ"
};
struct TempFail {
  std::string reply;  // "451 4.3.0 cannot write maildir: No space left on device"
};
struct PermFail {
  std::string reply;  // "550 5.1.1 mailbox gone"
};
using Outcome = std::variant<Delivered, TempFail, PermFail>;

}  // namespace sealpost::delivery
