// ServerSession message content: DATA (dot-unstuffing, framing at every byte boundary, limits),
// BDAT (RFC 3030) and the SMTP smuggling end-of-data look-alikes listed in RFCS.md.
// Kept apart from server_session_test.cpp so each file reads in one sitting.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session_harness.hpp"
#include "smtp/server_session.hpp"

namespace sealpost::smtp {
namespace {

using namespace std::string_literals;
using testing::begin;
using testing::expect;
using testing::expect_exact;
using testing::expect_output;
using testing::expect_replies;
using testing::Harness;
using testing::printable;
using testing::ready;
using testing::run_bytewise;
using testing::run_pieces;
using testing::test_settings;

SessionSettings small_messages() {
  SessionSettings s = test_settings();
  s.max_message_size = 1000;
  return s;
}

// ---- DATA -----------------------------------------------------------------------------------

TEST(ServerSessionData, SimpleMessage) {
  Harness h;
  begin(h);
  expect_exact(h, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
  EXPECT_TRUE(h.session.in_transaction());
  expect_exact(h, "Subject: hi\r\n\r\nHello.\r\n.\r\n", "250 2.0.0 Ok: queued as Q1\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "Subject: hi\r\n\r\nHello.\r\n");
  EXPECT_EQ(h.queued[0].reverse_path, "alice@example.org");
  EXPECT_EQ(h.queued[0].recipients, (std::vector<std::string>{"demo@localhost"}));
  EXPECT_FALSE(h.session.in_transaction());
  // Next transaction needs a new MAIL.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
}

TEST(ServerSessionData, DotUnstuffing) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect(h, "..leading dot\r\n...\r\n..\r\nmid.dle\r\n .\r\n.\r\n", "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, ".leading dot\r\n..\r\n.\r\nmid.dle\r\n .\r\n");
}

TEST(ServerSessionData, DotUnstuffingOnFirstLine) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect(h, "..first\r\n.\r\n", "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, ".first\r\n");
}

TEST(ServerSessionData, EmptyMessage) {
  Harness h;
  begin(h);
  expect_replies(h, "DATA\r\n.\r\n", {"354", "250 2.0.0 Ok: queued as Q1"});
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "");
}

TEST(ServerSessionData, EightBitAndUtf8ContentKeptVerbatim) {
  Harness h;
  begin(h);
  std::string body =
      "Subject: =?utf-8?q?x?=\r\n\r\nGr\xc3\xbc\xc3\x9f"
      "e \xe4\xbd\xa0\xe5\xa5\xbd\r\n"
      "latin-1 \xe9\xe8\r\n\xff\xfe\x80\r\n";
  expect(h, "DATA\r\n", "354");
  expect(h, body + ".\r\n", "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, body);
}

TEST(ServerSessionData, SameResultAtEveryByteBoundary) {
  const std::string input =
      "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
      "DATA\r\nSubject: split\r\n\r\n..stuffed\r\n..\r\n\r\nx\r\n8bit \xc3\xa9\r\n.\r\n"
      "NOOP\r\n";
  const std::string body = "Subject: split\r\n\r\n.stuffed\r\n.\r\n\r\nx\r\n8bit \xc3\xa9\r\n";
  Harness whole;
  const std::string expected = whole.send(input);
  expect_output(expected, {"250-mx.test", "250 2.1.0", "250 2.1.5", "354",
                           "250 2.0.0 Ok: queued as Q1", "250 2.0.0 Ok"});
  ASSERT_EQ(whole.queued.size(), 1u);
  ASSERT_EQ(whole.queued[0].body, body);

  Harness bytewise;
  EXPECT_EQ(run_bytewise(bytewise, input), expected);
  ASSERT_EQ(bytewise.queued.size(), 1u);
  EXPECT_EQ(bytewise.queued[0].body, body);

  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    Harness h;
    ASSERT_EQ(run_pieces(h, input, {cut}), expected) << "cut at " << cut;
    ASSERT_EQ(h.queued.size(), 1u) << "cut at " << cut;
    ASSERT_EQ(h.queued[0].body, body) << "cut at " << cut;
  }
}

TEST(ServerSessionData, SizeLimitRejectsAndSessionStaysUsable) {
  Harness h(small_messages());  // 1000 octets
  begin(h);
  expect(h, "DATA\r\n", "354");
  std::string line(98, 'x');
  line += "\r\n";  // 100 octets
  for (int i = 0; i < 10; ++i) ASSERT_EQ(h.send(line), "");
  // Exactly at the limit so far; keep streaming far past it: nothing is buffered.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(h.send(line), "");
    ASSERT_EQ(h.session.buffered(), 0u);
  }
  expect_exact(h, ".\r\n", "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_TRUE(h.queued.empty());
  EXPECT_FALSE(h.session.in_transaction());
  EXPECT_TRUE(h.session.take_transaction().body.empty());
  begin(h);
  expect_replies(h, "DATA\r\nsmall\r\n.\r\n", {"354", "250 2.0.0"});
  ASSERT_EQ(h.queued.size(), 1u);
}

TEST(ServerSessionData, SizeLimitIsInclusive) {
  Harness h(small_messages());
  begin(h);
  std::string body(998, 'x');
  body += "\r\n";  // exactly 1000 octets of content
  expect_replies(h, "DATA\r\n" + body + ".\r\n", {"354", "250 2.0.0"});
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body.size(), 1000u);
}

TEST(ServerSessionData, LineOf998Octets) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect(h, std::string(998, 'a') + "\r\n.\r\n", "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
}

TEST(ServerSessionData, StuffedLineOf998OctetsOfContent) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect(h, "." + std::string(998, '.') + "\r\n.\r\n", "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, std::string(998, '.') + "\r\n");
}

TEST(ServerSessionData, LineOf999OctetsRejected) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect_exact(h, "ok\r\n" + std::string(999, 'a') + "\r\nmore\r\n.\r\n",
               "554 5.6.0 Message has a line longer than 998 octets\r\n");
  EXPECT_TRUE(h.queued.empty());
  expect(h, "NOOP\r\n", "250 2.0.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
}

TEST(ServerSessionData, BareCrOrLfOutranksOtherErrors) {
  Harness h(small_messages());
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect(h, std::string(2000, 'a') + "\n\r\n.\r\n", "550 5.5.2");
}

TEST(ServerSessionData, NulAndControlBytesAreContent) {
  Harness h;
  begin(h);
  expect(h, "DATA\r\n", "354");
  expect(h,
         "a\x00"
         "b\x01\x7f\r\n.\r\n"s,
         "250 2.0.0");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body,
            "a\x00"
            "b\x01\x7f\r\n"s);
}

TEST(ServerSessionData, DataAfterHeloIsPlainSmtp) {
  Harness h;
  expect(h, "HELO client.test\r\n", "250 mx.test");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect_replies(h, "DATA\r\nx\r\n.\r\n", {"354", "250 2.0.0"});
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_FALSE(h.queued[0].esmtp);
  EXPECT_EQ(h.queued[0].helo, "client.test");
}

TEST(ServerSessionData, DataWithArgument) {
  Harness h;
  begin(h);
  expect(h, "DATA now\r\n", "501 5.5.4");
  expect(h, "DATA\r\n", "354");
}

// ---- BDAT (RFC 3030) ------------------------------------------------------------------------

TEST(ServerSessionBdat, SingleLastChunk) {
  Harness h;
  begin(h);
  expect_exact(h, "BDAT 12 LAST\r\nHello world!", "250 2.0.0 Ok: queued as Q1\r\n");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "Hello world!");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "503 5.5.1");
}

TEST(ServerSessionBdat, SeveralChunks) {
  Harness h;
  begin(h);
  expect_exact(h, "BDAT 7\r\nSubject", "250 2.0.0 Chunk accepted\r\n");
  expect(h, "bdat 7\r\n: x\r\n\r\n", "250 2.0.0 Chunk accepted");
  expect(h, "BDAT 6 last\r\nbody\r\n", "250 2.0.0 Ok: queued as Q1");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "Subject: x\r\n\r\nbody\r\n");
}

TEST(ServerSessionBdat, PipelinedChunks) {
  Harness h;
  ready(h);
  expect_replies(h,
                 "MAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
                 "BDAT 3\r\nabcBDAT 3\r\ndefBDAT 0 LAST\r\nNOOP\r\n",
                 {"250 2.1.0", "250 2.1.5", "250 2.0.0 Chunk", "250 2.0.0 Chunk",
                  "250 2.0.0 Ok: queued as Q1", "250 2.0.0 Ok\r\n"});
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "abcdef");
}

TEST(ServerSessionBdat, ZeroLastAlone) {
  Harness h;
  begin(h);
  expect(h, "BDAT 0 LAST\r\n", "250 2.0.0 Ok: queued as Q1");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "");
}

TEST(ServerSessionBdat, ChunkIsNotDotUnstuffed) {
  Harness h;
  begin(h);
  std::string chunk = "a\r\n.\r\n..b\r\n.\r\n";
  expect(h, "BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk,
         "250 2.0.0 Ok: queued as Q1");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, chunk);
}

TEST(ServerSessionBdat, SameResultAtEveryByteBoundary) {
  const std::string input =
      "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
      "BDAT 9\r\nab\r\n.\r\ncdBDAT 4 LAST\r\nef\r\nNOOP\r\n";
  Harness whole;
  const std::string expected = whole.send(input);
  expect_output(expected, {"250-mx.test", "250 2.1.0", "250 2.1.5", "250 2.0.0 Chunk",
                           "250 2.0.0 Ok: queued as Q1", "250 2.0.0 Ok"});
  ASSERT_EQ(whole.queued.size(), 1u);
  ASSERT_EQ(whole.queued[0].body, "ab\r\n.\r\ncdef\r\n");
  Harness bytewise;
  EXPECT_EQ(run_bytewise(bytewise, input), expected);
  for (std::size_t cut = 1; cut < input.size(); ++cut) {
    Harness h;
    ASSERT_EQ(run_pieces(h, input, {cut}), expected) << "cut at " << cut;
    ASSERT_EQ(h.queued.size(), 1u);
    ASSERT_EQ(h.queued[0].body, "ab\r\n.\r\ncdef\r\n");
  }
}

TEST(ServerSessionBdat, WithoutMailConsumesOctets) {
  Harness h;
  ready(h);
  expect_replies(h, "BDAT 10\r\nNOOP\r\nRSETNOOP\r\n",
                 {"503 5.5.1 Need MAIL command", "250 2.0.0 Ok\r\n"});
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
}

TEST(ServerSessionBdat, BeforeEhloConsumesOctets) {
  Harness h;
  expect_replies(h, "BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n",
                 {"503 5.5.1 Send HELO/EHLO first", "250 2.0.0"});
  EXPECT_EQ(h.session.action(), Action::kNone);
}

TEST(ServerSessionBdat, NoRecipients) {
  Harness h;
  ready(h);
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "BDAT 4 LAST\r\nabcd", "554 5.5.1 No valid recipients");
  EXPECT_TRUE(h.queued.empty());
  // The transaction is still open; after a recipient BDAT works.
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect(h, "BDAT 4 LAST\r\nabcd", "250 2.0.0 Ok: queued");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "abcd");
}

TEST(ServerSessionBdat, InvalidSyntaxCloses) {
  for (std::string bad :
       {"BDAT\r\n"s, "BDAT \r\n"s, "BDAT x\r\n"s, "BDAT -1\r\n"s, "BDAT 5 FIRST\r\n"s,
        "BDAT 5 \r\n"s, "BDAT 5 LAST x\r\n"s, "BDAT +5\r\n"s, "BDAT 0x10\r\n"s,
        "BDAT 99999999999999999999\r\n"s, "BDAT 5  LAST\r\n"s}) {
    SCOPED_TRACE(printable(bad));
    Harness h;
    begin(h);
    expect_exact(h, bad + "NOOP\r\n",
                 "501 5.5.4 Syntax: BDAT <size> [LAST]; closing connection\r\n");
    EXPECT_EQ(h.session.action(), Action::kClose);
    EXPECT_TRUE(h.queued.empty());
  }
}

TEST(ServerSessionBdat, DataAfterBdat) {
  Harness h;
  begin(h);
  expect(h, "BDAT 3\r\nabc", "250 2.0.0 Chunk accepted");
  expect(h, "DATA\r\n", "503 5.5.1 DATA not allowed after BDAT");
  expect(h, "BDAT 3 LAST\r\ndef", "250 2.0.0 Ok: queued");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "abcdef");
}

TEST(ServerSessionBdat, SizeLimitAcrossChunks) {
  Harness h(small_messages());
  begin(h);
  std::string chunk(600, 'x');
  expect(h, "BDAT 600\r\n" + chunk, "250 2.0.0 Chunk accepted");
  expect(h, "BDAT 600\r\n" + chunk, "552 5.3.4");
  EXPECT_FALSE(h.session.in_transaction());
  // The client pipelined its LAST chunk: discarded, 503.
  expect(h, "BDAT 5 LAST\r\nabcde", "503 5.5.1");
  EXPECT_TRUE(h.queued.empty());
  begin(h);
  expect(h, "BDAT 5 LAST\r\nabcde", "250 2.0.0 Ok: queued");
}

TEST(ServerSessionBdat, HugeChunkDrainedWithBoundedMemory) {
  Harness h(small_messages());
  begin(h);
  EXPECT_EQ(h.send("BDAT 1048576 LAST\r\n"), "");
  std::string piece(4096, 'y');
  for (int i = 0; i < 255; ++i) {
    ASSERT_EQ(h.send(piece), "");
    ASSERT_EQ(h.session.buffered(), 0u);
  }
  expect(h, piece, "552 5.3.4");
  EXPECT_TRUE(h.queued.empty());
  expect(h, "NOOP\r\n", "250 2.0.0");
}

TEST(ServerSessionBdat, BareLfRejected) {
  Harness h;
  begin(h);
  expect(h, "BDAT 5 LAST\r\nab\ncd", "550 5.5.2");
  EXPECT_TRUE(h.queued.empty());
}

TEST(ServerSessionBdat, BareCrRejected) {
  Harness h;
  begin(h);
  expect(h, "BDAT 5\r\nab\rcd", "550 5.5.2");
  EXPECT_TRUE(h.queued.empty());
}

TEST(ServerSessionBdat, CrLfAcrossChunksIsFine) {
  Harness h;
  begin(h);
  expect(h, "BDAT 2\r\na\r", "250 2.0.0 Chunk accepted");
  expect(h, "BDAT 2 LAST\r\n\nb", "250 2.0.0 Ok: queued");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "a\r\nb");
}

TEST(ServerSessionBdat, CrAtEndOfLastChunk) {
  Harness h;
  begin(h);
  expect(h, "BDAT 2 LAST\r\na\r", "550 5.5.2");
  EXPECT_TRUE(h.queued.empty());
}

TEST(ServerSessionBdat, ChunksAfterAFailedOneAreDiscarded) {
  Harness h;
  begin(h);
  expect_replies(h, "BDAT 3\r\na\nbBDAT 3\r\nxyzBDAT 6 LAST\r\nRSET\r\nNOOP\r\n",
                 {"550 5.5.2", "503 5.5.1 Previous BDAT failed", "503 5.5.1 Previous BDAT failed",
                  "250 2.0.0 Ok\r\n"});
  EXPECT_TRUE(h.queued.empty());
  expect(h, "RSET\r\n", "250 2.0.0");
  begin(h);
  expect(h, "BDAT 3 LAST\r\nabc", "250 2.0.0 Ok: queued");
}

TEST(ServerSessionBdat, MailAfterFailedChunkStartsAfresh) {
  Harness h;
  begin(h);
  expect(h, "BDAT 3\r\na\nb", "550 5.5.2");
  expect(h, "MAIL FROM:<alice@example.org>\r\n", "250 2.1.0");
  expect(h, "RCPT TO:<demo@localhost>\r\n", "250 2.1.5");
  expect(h, "BDAT 3 LAST\r\nabc", "250 2.0.0 Ok: queued");
  ASSERT_EQ(h.queued.size(), 1u);
  EXPECT_EQ(h.queued[0].body, "abc");
}

// ---- SMTP smuggling (RFCS.md, "Published attacks") ------------------------------------------
//
// Each end-of-data look-alike is embedded in a message followed by a smuggled transaction and
// the real end of data. Only CRLF "." CRLF ends DATA, so the smuggled commands are message
// content: at most one Enqueue, and the smuggled MAIL is never answered as a command.

const std::string kSmuggledContent =
    "MAIL FROM:<evil@x>\r\nRCPT TO:<demo@localhost>\r\nDATA\r\nsmuggled\r\n";
const std::string kSmuggled = kSmuggledContent + ".\r\n";

struct SmuggleOutcome {
  std::string output;
  std::vector<Transaction> queued;
};

SmuggleOutcome smuggle(const std::string& variant, bool bytewise) {
  Harness h;
  std::string input =
      "EHLO client.test\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<demo@localhost>\r\n"
      "DATA\r\nbody" +
      variant + kSmuggled;
  std::string out = bytewise ? run_bytewise(h, input) : h.send(input);
  out += h.send("QUIT\r\n");  // proves the session is back in command state
  return {out, std::move(h.queued)};
}

// A variant holding a bare CR or LF: the whole message is refused, nothing is queued.
void expect_rejected(const std::string& variant) {
  for (bool bytewise : {false, true}) {
    SCOPED_TRACE(bytewise ? "byte by byte" : "whole");
    SmuggleOutcome r = smuggle(variant, bytewise);
    expect_output(r.output,
                  {"250-mx.test", "250 2.1.0", "250 2.1.5", "354 ",
                   "550 5.5.2 Message contains a bare CR or LF (RFC 5321 2.3.8)\r\n", "221 2.0.0"});
    EXPECT_TRUE(r.queued.empty());
  }
}

// A variant without a bare CR or LF: one valid message whose content includes the smuggled
// commands verbatim.
void expect_one_message(const std::string& variant, const std::string& body) {
  for (bool bytewise : {false, true}) {
    SCOPED_TRACE(bytewise ? "byte by byte" : "whole");
    SmuggleOutcome r = smuggle(variant, bytewise);
    expect_output(r.output, {"250-mx.test", "250 2.1.0", "250 2.1.5", "354 ",
                             "250 2.0.0 Ok: queued as Q1\r\n", "221 2.0.0"});
    ASSERT_EQ(r.queued.size(), 1u);
    EXPECT_EQ(r.queued[0].body, body);
    EXPECT_EQ(r.queued[0].reverse_path, "alice@example.org");
    EXPECT_EQ(r.queued[0].recipients, (std::vector<std::string>{"demo@localhost"}));
  }
}

TEST(ServerSessionSmuggling, LfDotLf) { expect_rejected("\n.\n"); }
TEST(ServerSessionSmuggling, LfDotCrLf) { expect_rejected("\n.\r\n"); }
TEST(ServerSessionSmuggling, CrDotCrLf) { expect_rejected("\r.\r\n"); }
TEST(ServerSessionSmuggling, CrLfDotCr) { expect_rejected("\r\n.\r"); }
TEST(ServerSessionSmuggling, CrDotLf) { expect_rejected("\r.\n"); }
TEST(ServerSessionSmuggling, LfLfDotCrLf) { expect_rejected("\n\n.\r\n"); }
TEST(ServerSessionSmuggling, CrCrLfDotCrCrLf) { expect_rejected("\r\r\n.\r\r\n"); }

TEST(ServerSessionSmuggling, CrLfNulDotCrLf) {
  // No bare CR or LF: a valid message whose second line is NUL ".".
  expect_one_message("\r\n\x00.\r\n"s, "body\r\n\x00.\r\n"s + kSmuggledContent);
}

TEST(ServerSessionSmuggling, CrLfDotNulCrLf) {
  // No bare CR or LF: the line ".NUL" is dot-stuffing for "NUL" (RFC 5321 §4.5.2).
  expect_one_message("\r\n.\x00\r\n"s, "body\r\n\x00\r\n"s + kSmuggledContent);
}

TEST(ServerSessionSmuggling, LookAlikesInBdatAreContentOrRejected) {
  // BDAT has no terminator to fake; a bare LF in a chunk is still refused.
  Harness h;
  begin(h);
  std::string chunk = "body\n.\n" + kSmuggled;
  expect_replies(h, "BDAT " + std::to_string(chunk.size()) + " LAST\r\n" + chunk + "QUIT\r\n",
                 {"550 5.5.2", "221 2.0.0"});
  EXPECT_TRUE(h.queued.empty());
}

}  // namespace
}  // namespace sealpost::smtp
