// Delivery outcomes: the only three things a delivery attempt can report (DESIGN.md).
// The scheduler decides retry versus bounce from the outcome alone.
#pragma once

#include <string>
#include <variant>

namespace sealpost::delivery {

struct Delivered {};
struct TempFail {
  std::string reply;  // "451 4.3.0 cannot write maildir: No space left on device"
};
struct PermFail {
  std::string reply;  // "550 5.1.1 mailbox gone"
};
using Outcome = std::variant<Delivered, TempFail, PermFail>;

}  // namespace sealpost::delivery
