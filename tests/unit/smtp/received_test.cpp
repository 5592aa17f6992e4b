// The Received trace header (RFC 5321 §4.4, RFC 3848 and RFC 6531 "with" tokens) and the
// RFC 5322 date, with a fixed time.
#include "smtp/received.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sealpost::smtp {
namespace {

constexpr std::time_t kTime = 1700000000;  // Tue, 14 Nov 2023 22:13:20 UTC

Transaction plain_txn() {
  Transaction t;
  t.reverse_path = "alice@example.org";
  t.recipients = {"demo@localhost"};
  t.helo = "client.test";
  t.esmtp = true;
  t.peer_address = "192.0.2.7";
  return t;
}

Transaction tls_txn() {
  Transaction t = plain_txn();
  t.tls = TlsFacts{true, "TLSv1.3", "TLS_AES_256_GCM_SHA384", 256, "mx.test"};
  return t;
}

TEST(Rfc5322Date, FixedTimes) {
  EXPECT_EQ(rfc5322_date(kTime), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(1772352000), "Sun, 01 Mar 2026 08:00:00 +0000");
}

TEST(ReceivedHeader, PlainSingleRecipient) {
  EXPECT_EQ(received_header(plain_txn(), "mx.test", "Q1", kTime),
            "Received: from client.test ([192.0.2.7])\r\n"
            "\tby mx.test (Sealpost) with ESMTP id Q1\r\n"
            "\tfor <demo@localhost>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(ReceivedHeader, TlsSingleRecipient) {
  EXPECT_EQ(received_header(tls_txn(), "mx.test", "Q2", kTime),
            "Received: from client.test ([192.0.2.7])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits))\r\n"
            "\tby mx.test (Sealpost) with ESMTPS id Q2\r\n"
            "\tfor <demo@localhost>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(ReceivedHeader, MultipleRecipientsAreNotListed) {
  // Regression: the date used to start an unfolded line ("\r\n; Tue, ...").
  Transaction t = tls_txn();
  t.recipients = {"demo@localhost", "bob@localhost"};
  EXPECT_EQ(received_header(t, "mx.test", "Q3", kTime),
            "Received: from client.test ([192.0.2.7])\r\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256 bits))\r\n"
            "\tby mx.test (Sealpost) with ESMTPS id Q3; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(ReceivedHeader, Utf8smtpTokens) {
  Transaction t = tls_txn();
  t.smtputf8 = true;
  std::string h = received_header(t, "mx.test", "Q4", kTime);
  EXPECT_NE(h.find("\tby mx.test (Sealpost) with UTF8SMTPS id Q4\r\n"), std::string::npos) << h;
  Transaction p = plain_txn();
  p.smtputf8 = true;
  h = received_header(p, "mx.test", "Q5", kTime);
  EXPECT_NE(h.find(" with UTF8SMTP id Q5\r\n"), std::string::npos) << h;
}

TEST(ReceivedHeader, HeloIsPlainSmtp) {
  Transaction t = plain_txn();
  t.esmtp = false;
  std::string h = received_header(t, "mx.test", "Q6", kTime);
  EXPECT_NE(h.find(" with SMTP id Q6\r\n"), std::string::npos) << h;
}

TEST(ReceivedHeader, EveryContinuationLineIsFolded) {
  for (std::size_t n : {0u, 1u, 2u, 5u}) {
    for (bool tls : {false, true}) {
      Transaction t = tls ? tls_txn() : plain_txn();
      t.recipients.assign(n, "demo@localhost");
      std::string h = received_header(t, "mx.test", "Q", kTime);
      ASSERT_TRUE(h.starts_with("Received: ")) << h;
      ASSERT_TRUE(h.ends_with("+0000\r\n")) << h;
      for (std::size_t pos = h.find("\r\n"); pos + 2 < h.size(); pos = h.find("\r\n", pos + 2))
        EXPECT_EQ(h[pos + 2], '\t') << n << " " << tls << ": " << h;
      EXPECT_EQ(h.find('\n'), h.find("\r\n") + 1);
    }
  }
}

}  // namespace
}  // namespace sealpost::smtp
