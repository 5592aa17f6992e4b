// Bouncer: the report is committed durably from <> to the original sender and enqueued; a
// message from <> is never bounced; RFC 3463 status codes come from the failing reply; the
// report on a REQUIRETLS message goes with REQUIRETLS and returns headers only (RFC 8689 §5).
// Success reports ("delivered", "relayed" with Remote-MTA) and delay warnings (Will-Retry-Until)
// return headers only unless RET=FULL, and never go to <>.
#include "delivery/bouncer.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "queue/queue_id.hpp"
#include "test_support.hpp"

namespace sealpost::delivery {
namespace {

using sealpost::testing::QuietLogs;
using sealpost::testing::TempDir;

// A spool in a temporary directory, and a Bouncer that records what it enqueues.
class BouncerTest : public ::testing::Test {
 protected:
  QuietLogs quiet;
  TempDir temp;
  queue::Spool spool{temp.path()};
  std::vector<std::string> enqueued;
  Bouncer bouncer{spool, "mail.example.org", [this](std::string id) { enqueued.push_back(id); }};
};

queue::StoredMessage original(std::string sender) {
  queue::StoredMessage m;
  m.id = queue::make_queue_id();
  m.envelope.reverse_path = std::move(sender);
  m.envelope.recipients = {"ok@example.org", "gone@example.com", "late@example.net"};
  m.content = "From: alice@example.org\r\nSubject: hi\r\n\r\nHello.\r\n";
  return m;
}

TEST_F(BouncerTest, QueuesAReportToTheSender) {
  const auto message = original("alice@example.org");
  const Scheduler::Failure failures[] = {
      {1, "550 5.1.1 <gone@example.com>: no such user", false},
      {2, "451 4.4.1 connection refused", true},
  };
  ASSERT_TRUE(bouncer(message, failures));
  ASSERT_EQ(enqueued.size(), 1u);
  const auto report = spool.load(enqueued[0]);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->envelope.reverse_path, "");  // from <>: never bounced back
  EXPECT_EQ(report->envelope.recipients, std::vector<std::string>{"alice@example.org"});
  EXPECT_FALSE(report->envelope.requiretls);
  const std::string& c = report->content;
  EXPECT_NE(c.find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(c.find("Content-Type: multipart/report; report-type=delivery-status;"),
            std::string::npos);
  EXPECT_NE(c.find("X-Sealpost-Queue-ID: " + message.id + "\r\n"), std::string::npos);
  EXPECT_NE(c.find("Final-Recipient: rfc822;gone@example.com\r\nAction: failed\r\nStatus: "
                   "5.1.1\r\n"),
            std::string::npos);
  EXPECT_NE(c.find("Final-Recipient: rfc822;late@example.net\r\nAction: failed\r\nStatus: "
                   "4.4.7\r\n"),
            std::string::npos);
  EXPECT_NE(c.find("Diagnostic-Code: smtp; 451 4.4.1 connection refused\r\n"), std::string::npos);
  EXPECT_EQ(c.find("ok@example.org"), std::string::npos);  // delivered: not in the report
  EXPECT_NE(c.find("Hello.\r\n"), std::string::npos);      // the original comes back
}

TEST_F(BouncerTest, NeverBouncesABounce) {
  const Scheduler::Failure failures[] = {{1, "550 5.1.1 no", false}};
  EXPECT_TRUE(bouncer(original(""), failures));
  EXPECT_TRUE(enqueued.empty());
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST_F(BouncerTest, HonoursNotifyOrcptEnvidAndRet) {
  auto message = original("alice@example.org");
  message.envelope.envid = "QQ314159";
  message.envelope.ret = queue::Ret::kHdrs;
  message.envelope.recipient_dsn = {
      {queue::kNotifyNever, "", ""},
      {queue::kNotifyFailure | queue::kNotifyDelay, "rfc822", "Gone@Example.com"},
      {queue::kNotifySuccess, "", ""},
  };
  const Scheduler::Failure failures[] = {
      {0, "550 5.1.1 no", false},
      {1, "550 5.1.1 no such user", false},
      {2, "550 5.1.1 no", false},
  };
  ASSERT_TRUE(bouncer(message, failures));
  ASSERT_EQ(enqueued.size(), 1u);
  const std::string c = spool.load(enqueued[0])->content;
  EXPECT_NE(c.find("Original-Envelope-Id: QQ314159\r\n"), std::string::npos);
  EXPECT_NE(c.find("Original-Recipient: rfc822;Gone@Example.com\r\n"
                   "Final-Recipient: rfc822;gone@example.com\r\n"),
            std::string::npos);
  EXPECT_EQ(c.find("ok@example.org"), std::string::npos);    // NOTIFY=NEVER
  EXPECT_EQ(c.find("late@example.net"), std::string::npos);  // NOTIFY=SUCCESS only
  // RET=HDRS: the header block comes back, not the body.
  EXPECT_NE(c.find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_EQ(c.find("Hello."), std::string::npos);
}

TEST_F(BouncerTest, RequireTlsReportGoesWithRequireTlsAndReturnsHeadersOnly) {
  auto message = original("alice@example.org");
  message.envelope.requiretls = true;
  message.envelope.ret = queue::Ret::kFull;  // RET=FULL does not bring the body back either
  const Scheduler::Failure failures[] = {
      {1, "550 5.7.10 REQUIRETLS: example.com (MX mx.example.com) cannot be authenticated", false},
  };
  ASSERT_TRUE(bouncer(message, failures));
  ASSERT_EQ(enqueued.size(), 1u);
  const auto report = spool.load(enqueued[0]);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->envelope.requiretls);  // durable: the flag is in the spool record
  EXPECT_EQ(report->envelope.reverse_path, "");
  const std::string& c = report->content;
  EXPECT_NE(c.find("Final-Recipient: rfc822;gone@example.com\r\nAction: failed\r\nStatus: "
                   "5.7.10\r\n"),
            std::string::npos);
  EXPECT_NE(c.find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_EQ(c.find("Content-Type: message/rfc822"), std::string::npos);
  EXPECT_NE(c.find("\r\nFrom: alice@example.org\r\nSubject: hi\r\n"), std::string::npos);
  EXPECT_EQ(c.find("Hello."), std::string::npos);  // the body stays home
}

TEST_F(BouncerTest, NothingToReportQueuesNothing) {
  auto message = original("alice@example.org");
  message.envelope.recipient_dsn = {{queue::kNotifyNever, "", ""}, {}, {}};
  const Scheduler::Failure failures[] = {{0, "550 5.1.1 no", false}};
  EXPECT_TRUE(bouncer(message, failures));
  EXPECT_TRUE(enqueued.empty());
  EXPECT_TRUE(spool.queued_ids().empty());
}

Scheduler::Success success(unsigned rcpt, bool relayed) {
  Scheduler::Success s;
  s.rcpt = rcpt;
  if (relayed) {
    s.delivered.relayed = true;
    s.delivered.remote_mta = "mx.example.com";
    s.delivered.reply = "250 2.0.0 Ok: queued as 4XyZ";
  }
  return s;
}

TEST_F(BouncerTest, SuccessReportDeliveredAndRelayedWithHeadersOnly) {
  auto message = original("alice@example.org");
  message.envelope.envid = "QQ314159";
  message.envelope.recipient_dsn = {
      {queue::kNotifySuccess, "", ""},
      {queue::kNotifySuccess, "rfc822", "Gone@Example.com"},
      {},
  };
  const Scheduler::Success successes[] = {success(0, false), success(1, true)};
  ASSERT_TRUE(bouncer.report_success(message, successes));
  ASSERT_EQ(enqueued.size(), 1u);
  const auto report = spool.load(enqueued[0]);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->envelope.reverse_path, "");  // from <>, like every DSN
  EXPECT_EQ(report->envelope.recipients, std::vector<std::string>{"alice@example.org"});
  const std::string& c = report->content;
  EXPECT_NE(c.find("Subject: Successful Mail Delivery Report\r\n"), std::string::npos);
  EXPECT_NE(c.find("Original-Envelope-Id: QQ314159\r\n"), std::string::npos);
  EXPECT_NE(c.find("Final-Recipient: rfc822;ok@example.org\r\nAction: delivered\r\n"
                   "Status: 2.0.0\r\n"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find("Original-Recipient: rfc822;Gone@Example.com\r\n"
                   "Final-Recipient: rfc822;gone@example.com\r\nAction: relayed\r\n"
                   "Status: 2.0.0\r\nRemote-MTA: dns; mx.example.com\r\n"
                   "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4XyZ\r\n"),
            std::string::npos)
      << c;
  EXPECT_EQ(c.find("late@example.net"), std::string::npos);
  // RFC 3461 §4.3: no RET=FULL, so the header section only.
  EXPECT_NE(c.find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_NE(c.find("\r\nFrom: alice@example.org\r\nSubject: hi\r\n"), std::string::npos);
  EXPECT_EQ(c.find("Hello."), std::string::npos);
}

TEST_F(BouncerTest, SuccessReportReturnsTheWholeMessageOnlyForRetFull) {
  auto message = original("alice@example.org");
  message.envelope.ret = queue::Ret::kFull;
  const Scheduler::Success successes[] = {success(0, false)};
  ASSERT_TRUE(bouncer.report_success(message, successes));
  message.envelope.ret = queue::Ret::kHdrs;
  ASSERT_TRUE(bouncer.report_success(message, successes));
  message.envelope.ret = queue::Ret::kFull;
  message.envelope.requiretls = true;  // RFC 8689 §5 wins over RET=FULL
  ASSERT_TRUE(bouncer.report_success(message, successes));
  ASSERT_EQ(enqueued.size(), 3u);
  EXPECT_NE(spool.load(enqueued[0])->content.find("Content-Type: message/rfc822\r\n"),
            std::string::npos);
  EXPECT_NE(spool.load(enqueued[0])->content.find("Hello."), std::string::npos);
  EXPECT_EQ(spool.load(enqueued[1])->content.find("Hello."), std::string::npos);
  EXPECT_EQ(spool.load(enqueued[2])->content.find("Hello."), std::string::npos);
  EXPECT_TRUE(spool.load(enqueued[2])->envelope.requiretls);
}

TEST_F(BouncerTest, DelayWarningCarriesStatusAndWillRetryUntil) {
  const auto message = original("alice@example.org");
  const Scheduler::Deferral deferrals[] = {{2, "451 4.4.1 connection refused"},
                                           {1, "452 no enhanced code"}};
  const auto until = std::chrono::system_clock::from_time_t(1796378400);  // 2026-12-04 10:00
  ASSERT_TRUE(bouncer.warn_delay(message, deferrals, until));
  ASSERT_EQ(enqueued.size(), 1u);
  const std::string c = spool.load(enqueued[0])->content;
  EXPECT_NE(c.find("Subject: Delayed Mail (still being retried)\r\n"), std::string::npos);
  EXPECT_NE(c.find("Final-Recipient: rfc822;late@example.net\r\nAction: delayed\r\n"
                   "Status: 4.4.1\r\nDiagnostic-Code: smtp; 451 4.4.1 connection refused\r\n"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find("Final-Recipient: rfc822;gone@example.com\r\nAction: delayed\r\n"
                   "Status: 4.0.0\r\n"),
            std::string::npos)
      << c;
  EXPECT_NE(c.find("Will-Retry-Until: Fri, 04 Dec 2026 10:00:00 +0000\r\n"), std::string::npos)
      << c;
  EXPECT_NE(c.find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_EQ(c.find("Hello."), std::string::npos);
  EXPECT_EQ(c.find("ok@example.org"), std::string::npos);
}

TEST_F(BouncerTest, NoSuccessReportOrDelayWarningToTheNullSender) {
  const Scheduler::Success successes[] = {success(0, true)};
  const Scheduler::Deferral deferrals[] = {{1, "451 4.4.1 refused"}};
  EXPECT_TRUE(bouncer.report_success(original(""), successes));
  EXPECT_TRUE(bouncer.warn_delay(original(""), deferrals, std::chrono::system_clock::now()));
  EXPECT_TRUE(enqueued.empty());
  EXPECT_TRUE(spool.queued_ids().empty());
}

TEST(Bouncer, StatusOfReply) {
  EXPECT_EQ(status_of_reply("550 5.1.1 no such user"), "5.1.1");
  EXPECT_EQ(status_of_reply("554-5.7.1 policy"), "5.7.1");
  EXPECT_EQ(status_of_reply("452 4.2.2 mailbox full"), "4.2.2");
  EXPECT_EQ(status_of_reply("550 no enhanced code"), "5.0.0");
  EXPECT_EQ(status_of_reply("451 try later"), "4.0.0");
  EXPECT_EQ(status_of_reply("550 4.1.1 class mismatch"), "5.0.0");
  EXPECT_EQ(status_of_reply("550 5.1."), "5.0.0");
  EXPECT_EQ(status_of_reply("550 5..1"), "5.0.0");
  EXPECT_EQ(status_of_reply(""), "5.0.0");
}

}  // namespace
}  // namespace sealpost::delivery
