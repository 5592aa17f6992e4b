// The DSN (RFC 3461) and REQUIRETLS (RFC 8689) fields of a message record: they round-trip,
// records written before they existed still decode, a damaged DSN block is detected, and the
// spool keeps them across a restart.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "queue/log_format.hpp"
#include "queue/queue_id.hpp"
#include "queue/spool.hpp"
#include "test_support.hpp"

namespace sealpost::queue::log {
namespace {

constexpr std::string_view kId = "0006411A2B3C4D5E0F3A1";

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_string(std::string& out, std::string_view s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

Envelope dsn_envelope() {
  Envelope e{"alice@example.org", {"bob@example.com", "carol@example.net"}, false, true};
  e.ret = Ret::kHdrs;
  e.envid = "QQ314159 x+y";
  e.requiretls = true;
  e.recipient_dsn = {{kNotifySuccess | kNotifyFailure, "rfc822", "Bob@Example.com"},
                     {kNotifyNever, "", ""}};
  return e;
}

std::string inline_record(const Envelope& envelope, std::string_view content) {
  const std::string_view parts[] = {content};
  const EncodedMessage encoded = encode_message(kId, envelope, parts, {});
  return encoded.head + std::string(content) + encoded.tail;
}

const char* parse(const std::string& record, MessageView& out) {
  RecordView view;
  if (const char* why = read_record(record, view)) return why;
  return parse_message(view.payload, out);
}

void expect_same(const Envelope& a, const Envelope& b) {
  EXPECT_EQ(a.reverse_path, b.reverse_path);
  EXPECT_EQ(a.recipients, b.recipients);
  EXPECT_EQ(a.smtputf8, b.smtputf8);
  EXPECT_EQ(a.body_8bit, b.body_8bit);
  EXPECT_EQ(a.ret, b.ret);
  EXPECT_EQ(a.envid, b.envid);
  EXPECT_EQ(a.requiretls, b.requiretls);
  EXPECT_EQ(a.recipient_dsn, b.recipient_dsn);
}

TEST(LogFormatDsn, InlineRecordRoundTrips) {
  const Envelope envelope = dsn_envelope();
  MessageView message;  // views into the record, which must outlive it
  const std::string record = inline_record(envelope, "Subject: x\r\n\r\nbody\r\n");
  ASSERT_EQ(parse(record, message), nullptr);
  expect_same(message.envelope, envelope);
  EXPECT_EQ(message.content, "Subject: x\r\n\r\nbody\r\n");
}

TEST(LogFormatDsn, SpilledRecordRoundTrips) {
  const Envelope envelope = dsn_envelope();
  const EncodedMessage encoded = encode_message(kId, envelope, {}, Spill{12345, 0xDEADBEEF});
  MessageView message;
  const std::string record = encoded.head + encoded.tail;
  ASSERT_EQ(parse(record, message), nullptr);
  expect_same(message.envelope, envelope);
  ASSERT_TRUE(message.spill);
  EXPECT_EQ(message.spill->size, 12345u);
  EXPECT_EQ(message.spill->crc, 0xDEADBEEFu);
}

TEST(LogFormatDsn, OnlyRetOrOnlyRequireTlsRoundTrips) {
  Envelope ret_only{"", {"a@b"}, false, false};
  ret_only.ret = Ret::kFull;
  MessageView message;
  const std::string ret_record = inline_record(ret_only, "x");
  ASSERT_EQ(parse(ret_record, message), nullptr);
  expect_same(message.envelope, ret_only);

  Envelope tls_only{"a@b", {"c@d"}, true, false};
  tls_only.requiretls = true;
  const std::string record = inline_record(tls_only, "x");
  ASSERT_EQ(parse(record, message), nullptr);
  expect_same(message.envelope, tls_only);
  // REQUIRETLS alone is a flag bit: no DSN block is written for it.
  EXPECT_EQ(record.size(), inline_record(Envelope{"a@b", {"c@d"}, true, false}, "x").size());
}

TEST(LogFormatDsn, PlainEnvelopeKeepsTheOldLayout) {
  // No DSN field set: byte for byte what was written before DSN support.
  const Envelope plain{"a@b", {"c@d"}, false, false};
  std::string payload(kId);
  payload.push_back(0);
  put_string(payload, "a@b");
  put_u32(payload, 1);
  put_string(payload, "c@d");
  payload += "x";
  EXPECT_EQ(inline_record(plain, "x"), encode_record(RecordType::kMessage, payload));
}

TEST(LogFormatDsn, RecordWrittenBeforeDsnDecodes) {
  // An old-format record built by hand: flags SMTPUTF8|8BITMIME, two recipients, content.
  std::string payload(kId);
  payload.push_back(0x03);
  put_string(payload, "s@example.org");
  put_u32(payload, 2);
  put_string(payload, "a@example.com");
  put_string(payload, "b@example.com");
  payload += "Subject: old\r\n\r\nold\r\n";
  MessageView message;
  // A view reused from a DSN record must not keep its DSN fields.
  const std::string dsn_record = inline_record(dsn_envelope(), "x");
  ASSERT_EQ(parse(dsn_record, message), nullptr);
  const std::string old_record = encode_record(RecordType::kMessage, payload);
  ASSERT_EQ(parse(old_record, message), nullptr);
  EXPECT_EQ(message.envelope.reverse_path, "s@example.org");
  EXPECT_EQ(message.envelope.recipients,
            (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_TRUE(message.envelope.smtputf8);
  EXPECT_TRUE(message.envelope.body_8bit);
  EXPECT_EQ(message.envelope.ret, Ret::kUnspecified);
  EXPECT_EQ(message.envelope.envid, "");
  EXPECT_FALSE(message.envelope.requiretls);
  EXPECT_TRUE(message.envelope.recipient_dsn.empty());
  EXPECT_EQ(message.content, "Subject: old\r\n\r\nold\r\n");
}

// A DSN block whose CRC is right but whose contents are wrong (a bug, or a forged record).
std::string record_with_dsn_block(std::string_view block, bool spilled) {
  std::string payload(kId);
  payload.push_back(static_cast<char>(kFlagDsn | (spilled ? kFlagSpilled : 0)));
  put_string(payload, "a@b");
  put_u32(payload, 2);
  put_string(payload, "c@d");
  put_string(payload, "e@f");
  payload += block;
  if (spilled) payload += std::string(12, '\0');
  return encode_record(RecordType::kMessage, payload);
}

TEST(LogFormatDsn, DamagedDsnBlockIsDetected) {
  MessageView message;
  std::string block;
  block.push_back(3);  // no such RET
  put_string(block, "");
  put_u32(block, 0);
  EXPECT_STREQ(parse(record_with_dsn_block(block, true), message), "bad DSN RET");

  block.clear();
  block.push_back(1);
  put_string(block, "id");
  put_u32(block, 1);  // neither 0 nor the recipient count
  EXPECT_STREQ(parse(record_with_dsn_block(block, true), message), "bad DSN recipient count");

  block.clear();
  block.push_back(0);
  put_string(block, "");
  put_u32(block, 2);
  block.push_back(static_cast<char>(kNotifyNever | kNotifyFailure));  // NEVER is alone
  put_string(block, "");
  put_string(block, "");
  block.push_back(0);
  put_string(block, "");
  put_string(block, "");
  EXPECT_STREQ(parse(record_with_dsn_block(block, true), message), "bad DSN NOTIFY");

  block.clear();
  block.push_back(0);
  put_u32(block, 1000);  // ENVID longer than the record
  EXPECT_STREQ(parse(record_with_dsn_block(block, true), message), "bad DSN ENVID");

  // Unknown flag bits are still refused.
  std::string payload(kId);
  payload.push_back(0x20);
  put_string(payload, "a@b");
  put_u32(payload, 1);
  put_string(payload, "c@d");
  EXPECT_STREQ(parse(encode_record(RecordType::kMessage, payload), message), "bad flags");
}

TEST(LogFormatDsn, TornDsnRecordIsDetected) {
  const std::string record = inline_record(dsn_envelope(), "body");
  RecordView view;
  for (std::size_t cut = 0; cut < record.size(); ++cut)
    EXPECT_NE(read_record(std::string_view(record).substr(0, cut), view), nullptr) << cut;
  // Every truncation of the payload inside the DSN block fails to parse (spilled: exact size).
  const EncodedMessage encoded = encode_message(kId, dsn_envelope(), {}, Spill{1, 2});
  const std::string full = encoded.head + encoded.tail;
  ASSERT_EQ(read_record(full, view), nullptr);
  const std::string_view payload = view.payload;
  MessageView message;
  for (std::size_t cut = kIdSize + 1; cut < payload.size(); ++cut)
    EXPECT_NE(parse_message(payload.substr(0, cut), message), nullptr) << cut;
}

TEST(LogFormatDsn, EnvelopeOnlyScanSkipsDsnFields) {
  MessageView message;
  RecordView view;
  const std::string record = inline_record(dsn_envelope(), "body");
  ASSERT_EQ(read_record(record, view), nullptr);
  ASSERT_EQ(parse_message(view.payload, message, false), nullptr);
  EXPECT_TRUE(message.envelope.recipient_dsn.empty());
  EXPECT_TRUE(message.envelope.requiretls);
  EXPECT_EQ(message.content, "body");
}

}  // namespace
}  // namespace sealpost::queue::log

namespace sealpost::queue {
namespace {

using sealpost::testing::TempDir;

TEST(SpoolDsn, DsnFieldsSurviveRecovery) {
  TempDir dir;
  Envelope envelope{"alice@example.org", {"bob@example.com", "carol@example.net"}, false, false};
  envelope.ret = Ret::kFull;
  envelope.envid = "env-1";
  envelope.requiretls = true;
  envelope.recipient_dsn = {{kNotifyDelay, "utf-8",
                             "b\xc3\xb6"
                             "b@example.com"},
                            {}};
  const std::string small = "Subject: s\r\n\r\nx\r\n";
  const std::string large(100 * 1024, 'x');  // spilled
  const std::string id_small = make_queue_id(), id_large = make_queue_id();
  {
    Spool spool(dir.path());
    spool.recover();
    const std::string_view small_parts[] = {small};
    const std::string_view large_parts[] = {large};
    ASSERT_TRUE(spool.commit(id_small, envelope, small_parts).ok());
    ASSERT_TRUE(spool.commit(id_large, envelope, large_parts).ok());
    Envelope mismatched = envelope;
    mismatched.recipient_dsn.pop_back();
    EXPECT_EQ(spool.commit(make_queue_id(), mismatched, small_parts).error, EINVAL);
  }
  Spool spool(dir.path());
  EXPECT_EQ(spool.recover().size(), 2u);
  for (const auto& id : {id_small, id_large}) {
    auto message = spool.load(id);
    ASSERT_TRUE(message) << id;
    EXPECT_EQ(message->envelope.ret, Ret::kFull);
    EXPECT_EQ(message->envelope.envid, "env-1");
    EXPECT_TRUE(message->envelope.requiretls);
    EXPECT_EQ(message->envelope.recipient_dsn, envelope.recipient_dsn);
  }
}

}  // namespace
}  // namespace sealpost::queue
