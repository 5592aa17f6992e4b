#include "delivery/bounce.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sealpost::delivery {
namespace {

const std::string kOriginal =
    "From: alice@example.org\r\nTo: bob@remote.test\r\nSubject: hi\r\n\r\nHello Bob.\r\n";

BounceRequest request() {
  BounceRequest r;
  r.reporting_mta = "mail.example.org";
  r.sender = "alice@example.org";
  r.queue_id = "Q123";
  r.envelope_id = "env-1";
  r.arrival_date = "Sun, 29 Nov 2026 10:00:00 +0000";
  r.date = "Sun, 29 Nov 2026 11:00:00 +0000";
  r.message_id = "dsn.Q123@mail.example.org";
  r.boundary = "=_boundary_Q123";
  RecipientStatus s;
  s.final_recipient = "bob@remote.test";
  s.original_recipient = "rfc822;Bob@remote.test";
  s.status = "5.1.1";
  s.remote_mta = "mx.remote.test";
  s.diagnostic = "550 5.1.1 <bob@remote.test>: no such user";
  r.recipients.push_back(s);
  r.original = kOriginal;
  return r;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(Bounce, NeverToTheNullSender) {
  BounceRequest r = request();
  r.sender.clear();
  EXPECT_FALSE(make_bounce(r));
  r = request();
  r.recipients.clear();
  EXPECT_FALSE(make_bounce(r));
}

TEST(Bounce, MultipartReportWithThreeParts) {
  auto m = make_bounce(request());
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(m->find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  EXPECT_NE(m->find("Content-Type: multipart/report; report-type=delivery-status;\r\n"
                    "\tboundary=\"=_boundary_Q123\"\r\n"),
            std::string::npos);
  EXPECT_EQ(count(*m, "\r\n--=_boundary_Q123\r\n"), 3u);
  EXPECT_TRUE(m->ends_with("\r\n--=_boundary_Q123--\r\n"));
  EXPECT_NE(m->find("Content-Type: message/delivery-status\r\n"), std::string::npos);
  EXPECT_NE(m->find("Reporting-MTA: dns; mail.example.org\r\n"), std::string::npos);
  EXPECT_NE(m->find("Original-Envelope-Id: env-1\r\n"), std::string::npos);
  EXPECT_NE(m->find("\r\nOriginal-Recipient: rfc822;Bob@remote.test\r\n"
                    "Final-Recipient: rfc822;bob@remote.test\r\nAction: failed\r\n"
                    "Status: 5.1.1\r\nRemote-MTA: dns; mx.remote.test\r\n"
                    "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user\r\n"),
            std::string::npos)
      << *m;
  EXPECT_NE(m->find("Content-Type: message/rfc822\r\n"), std::string::npos);
  EXPECT_NE(m->find(kOriginal), std::string::npos) << "the original, whole";
  // Every line ends in CRLF.
  EXPECT_EQ(count(*m, "\n"), count(*m, "\r\n"));
}

TEST(Bounce, HeadersOnlyOnRequestOrWhenLarge) {
  BounceRequest r = request();
  r.headers_only = true;
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_NE(m->find("Subject: hi\r\n"), std::string::npos);
  EXPECT_EQ(m->find("Hello Bob."), std::string::npos);
  EXPECT_NE(m->find("Its headers are attached below (queue id "), std::string::npos);
  r = request();
  r.max_original = 10;
  m = make_bounce(r);
  EXPECT_EQ(m->find("Hello Bob."), std::string::npos);
  EXPECT_NE(m->find("Its headers are attached below"), std::string::npos);
  m = make_bounce(request());
  EXPECT_NE(m->find("\r\nIt is attached below (queue id "), std::string::npos) << "whole message";
}

TEST(Bounce, DelayedNoticeAndNoHeaderInjection) {
  BounceRequest r = request();
  r.recipients[0].action = RecipientStatus::Action::kDelayed;
  r.recipients[0].status = "4.4.1";
  r.recipients[0].diagnostic = "connection refused\r\nX-Injected: yes";
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Subject: Delayed Mail"), std::string::npos);
  EXPECT_NE(m->find("Action: delayed\r\n"), std::string::npos);
  EXPECT_EQ(m->find("\r\nX-Injected"), std::string::npos);
}

TEST(Bounce, DelayedCarriesWillRetryUntil) {
  BounceRequest r = request();
  r.recipients[0].action = RecipientStatus::Action::kDelayed;
  r.recipients[0].status = "4.2.0";
  r.recipients[0].remote_mta.clear();
  r.recipients[0].diagnostic = "451 4.2.0 try later";
  r.recipients[0].will_retry_until = "Fri, 04 Dec 2026 10:00:00 +0000";
  r.headers_only = true;
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Action: delayed\r\nStatus: 4.2.0\r\n"
                    "Diagnostic-Code: smtp; 451 4.2.0 try later\r\n"
                    "Will-Retry-Until: Fri, 04 Dec 2026 10:00:00 +0000\r\n"),
            std::string::npos)
      << *m;
  EXPECT_EQ(m->find("Remote-MTA"), std::string::npos);
  EXPECT_NE(m->find("Content-Description: Message headers\r\n"), std::string::npos);
  // Only a delay has a retry horizon (RFC 3464 §2.3.9).
  r.recipients[0].action = RecipientStatus::Action::kFailed;
  m = make_bounce(r);
  EXPECT_EQ(m->find("Will-Retry-Until"), std::string::npos);
}

TEST(Bounce, SuccessReportDeliveredAndRelayed) {
  BounceRequest r = request();
  r.recipients.clear();
  RecipientStatus local;
  local.final_recipient = "carol@example.org";
  local.action = RecipientStatus::Action::kDelivered;
  local.status = "2.0.0";
  r.recipients.push_back(local);
  RecipientStatus relayed;
  relayed.final_recipient = "bob@remote.test";
  relayed.original_recipient = "rfc822;Bob@remote.test";
  relayed.action = RecipientStatus::Action::kRelayed;
  relayed.status = "2.0.0";
  relayed.remote_mta = "mx.remote.test";
  relayed.diagnostic = "250 2.0.0 queued as 4XyZ";
  r.recipients.push_back(relayed);
  r.headers_only = true;
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Subject: Successful Mail Delivery Report\r\n"), std::string::npos);
  EXPECT_NE(m->find("\r\n\r\nFinal-Recipient: rfc822;carol@example.org\r\n"
                    "Action: delivered\r\nStatus: 2.0.0\r\n"),
            std::string::npos)
      << *m;
  EXPECT_NE(m->find("\r\nOriginal-Recipient: rfc822;Bob@remote.test\r\n"
                    "Final-Recipient: rfc822;bob@remote.test\r\nAction: relayed\r\n"
                    "Status: 2.0.0\r\nRemote-MTA: dns; mx.remote.test\r\n"
                    "Diagnostic-Code: smtp; 250 2.0.0 queued as 4XyZ\r\n"),
            std::string::npos)
      << *m;
  // Headers only, and not worded as a failure.
  EXPECT_NE(m->find("Content-Type: text/rfc822-headers\r\n"), std::string::npos);
  EXPECT_EQ(m->find("Hello Bob."), std::string::npos);
  EXPECT_EQ(m->find("Undelivered"), std::string::npos);
  EXPECT_EQ(m->find("could not be delivered"), std::string::npos);
  EXPECT_EQ(count(*m, "\n"), count(*m, "\r\n"));
}

TEST(Bounce, AFailureAmongOthersMakesItAFailureReport) {
  BounceRequest r = request();
  RecipientStatus delayed = r.recipients[0];
  delayed.action = RecipientStatus::Action::kDelayed;
  r.recipients.insert(r.recipients.begin(), delayed);
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Subject: Undelivered Mail Returned to Sender\r\n"), std::string::npos);
  EXPECT_NE(m->find("Content-Description: Undelivered message\r\n"), std::string::npos);
}

TEST(Bounce, Utf8AddressesUseGlobalTypes) {
  BounceRequest r = request();
  r.recipients[0].final_recipient =
      "b\xc3\xb6"
      "b@remote.test";
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Content-Type: message/global-delivery-status\r\n"), std::string::npos);
  EXPECT_NE(m->find("Final-Recipient: utf-8;b\xc3\xb6"
                    "b@remote.test\r\n"),
            std::string::npos);
  EXPECT_NE(m->find("Content-Type: message/global\r\n"), std::string::npos);
}

TEST(Bounce, Utf8HeadersAttachTheOriginalAsGlobal) {
  BounceRequest r = request();
  r.original = "From: alice@example.org\r\nSubject: Gr\xc3\xbc\xc3\x9f\x65\r\n\r\nHello.\r\n";
  auto m = make_bounce(r);
  ASSERT_TRUE(m);
  // The report fields are ASCII: the plain delivery-status type; the original is global.
  EXPECT_NE(m->find("Content-Type: message/delivery-status\r\n"), std::string::npos);
  EXPECT_NE(m->find("Content-Type: message/global\r\n"), std::string::npos);
  r.headers_only = true;
  m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Content-Type: message/global-headers\r\n"), std::string::npos);
  r.original = "Subject: hi\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n";  // 8-bit body only
  r.headers_only = false;
  m = make_bounce(r);
  ASSERT_TRUE(m);
  EXPECT_NE(m->find("Content-Type: message/rfc822\r\n"), std::string::npos);
}

}  // namespace
}  // namespace sealpost::delivery
