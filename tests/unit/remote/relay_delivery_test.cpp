// The smarthost's outcome rules (relay_outcomes): the server's per-recipient verdict once it
// judged the transaction, one deferral for everything before that — AUTH failures as 4.7.0,
// a smarthost's 5xx before the transaction deferred rather than bounced.
#include "delivery/remote/relay_delivery.hpp"

#include <gtest/gtest.h>

#include "delivery/remote/mx_plan.hpp"

namespace sealpost::delivery::remote {
namespace {

std::string temp(const Outcome& o) {
  const auto* t = std::get_if<TempFail>(&o);
  return t ? t->reply : "not a TempFail: " + outcome_text(o);
}

TEST(RelayOutcomes, JudgedTransactionKeepsEachRecipientsVerdict) {
  AttemptResult r;
  r.recipients = std::vector<Outcome>{Delivered{}, PermFail{"550 5.1.1 no such user"},
                                      TempFail{"451 4.2.0 try later"}};
  auto out = relay_outcomes(r, 3, "smarthost.test");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<Delivered>(out[0]));
  EXPECT_EQ(std::get<PermFail>(out[1]).reply, "550 5.1.1 no such user");
  EXPECT_EQ(std::get<TempFail>(out[2]).reply, "451 4.2.0 try later");
}

TEST(RelayOutcomes, AuthFailureDefersEveryoneWith470) {
  AttemptResult r;
  r.failure = PermFail{"535 5.7.8 Authentication credentials invalid"};
  r.session_failure = {smtp::FailureReason::kAuthFailed,
                       smtp::make_reply(535, "5.7.8", "Authentication credentials invalid"),
                       "authentication refused"};
  auto out = relay_outcomes(r, 2, "smarthost.test");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(temp(out[0]),
            "451 4.7.0 authentication at smarthost smarthost.test failed: authentication "
            "refused (server said \"535 5.7.8 Authentication credentials invalid\"); nothing "
            "was sent");
  EXPECT_EQ(temp(out[1]), temp(out[0]));
}

TEST(RelayOutcomes, NoAuthOfferedIsAnAuthFailureToo) {
  AttemptResult r;
  r.failure = TempFail{"451 4.4.2 no AUTH"};
  r.session_failure = {smtp::FailureReason::kAuthNotOffered, {}, "the server offers no AUTH"};
  EXPECT_EQ(temp(relay_outcomes(r, 1, "h")[0]),
            "451 4.7.0 authentication at smarthost h failed: the server offers no AUTH; "
            "nothing was sent");
}

TEST(RelayOutcomes, PermanentSessionRefusalIsDeferred) {
  AttemptResult r;
  r.failure = PermFail{"554 5.3.2 no service"};
  r.session_failure = {smtp::FailureReason::kGreeting, smtp::make_reply(554, "5.3.2", "no service"),
                       ""};
  EXPECT_EQ(temp(relay_outcomes(r, 1, "h")[0]),
            "451 4.4.2 smarthost h refused the session: 554 5.3.2 no service");
}

TEST(RelayOutcomes, TlsAndConnectFailuresPassThrough) {
  AttemptResult r;
  r.failure = TempFail{"451 4.7.5 verify: certificate not verified for h; nothing was sent"};
  auto out = relay_outcomes(r, 2, "h");
  EXPECT_EQ(temp(out[1]), "451 4.7.5 verify: certificate not verified for h; nothing was sent");
}

}  // namespace
}  // namespace sealpost::delivery::remote
