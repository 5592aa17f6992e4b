// prepare_message and parse_address_list: the headers send adds (only when missing), sendmail
// -t (To/Cc/Bcc, folding, groups, comments, quoted names, Bcc removed), the header/body
// boundary, Unix text to CRLF, 8-bit headers, and inputs far larger than any real message.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <set>

#include "cli/send/message_prep.hpp"
#include "sasl/base64.hpp"

namespace sealpost::send {
namespace {

using Strings = std::vector<std::string>;

PreparedMessage prepare(std::string_view raw, Strings rcpts = {"rcpt@example.org"},
                        bool from_headers = false, std::string sender = "me@example.org",
                        std::string full_name = "") {
  PrepareInput in;
  in.raw = raw;
  in.recipients = std::move(rcpts);
  in.recipients_from_headers = from_headers;
  in.sender = std::move(sender);
  in.full_name = std::move(full_name);
  in.domain = "submit.example.net";
  return prepare_message(in);
}

PreparedMessage prepare_t(std::string_view raw) { return prepare(raw, {}, true); }

// The header block (up to and including the empty line's CRLF) and the body.
std::pair<std::string, std::string> split(const std::string& content) {
  auto blank = content.find("\r\n\r\n");
  if (content.rfind("\r\n", 0) == 0) return {"", content.substr(2)};
  EXPECT_NE(blank, std::string::npos) << content;
  return {content.substr(0, blank + 2), content.substr(blank + 4)};
}

// Field lines (a folded field is one entry) of a header block.
Strings fields(const std::string& header) {
  Strings out;
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto eol = header.find("\r\n", pos);
    std::string line = header.substr(pos, eol - pos);
    if (!out.empty() && (line[0] == ' ' || line[0] == '\t')) {
      out.back() += "\r\n" + line;
    } else {
      out.push_back(line);
    }
    pos = eol + 2;
  }
  return out;
}

std::string value_of(const Strings& fs, std::string_view name) {
  for (const auto& f : fs)
    if (f.rfind(std::string(name) + ": ", 0) == 0) return f.substr(name.size() + 2);
  return "";
}

std::size_t count_of(const Strings& fs, std::string_view name) {
  std::size_t n = 0;
  for (const auto& f : fs) n += f.rfind(std::string(name) + ":", 0) == 0;
  return n;
}

const std::regex kDate(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})");

// -- headers added only when missing -------------------------------------------------------

TEST(MessagePrep, AddsDateAndMessageIdAfterTheUsersFields) {
  auto m = prepare("From: A <me@example.org>\nSubject: hi\n\nBody.\n");
  ASSERT_TRUE(m.ok) << m.error;
  auto [header, body] = split(m.content);
  auto fs = fields(header);
  ASSERT_EQ(fs.size(), 4u) << header;
  EXPECT_EQ(fs[0], "From: A <me@example.org>");
  EXPECT_EQ(fs[1], "Subject: hi");
  EXPECT_EQ(fs[2].substr(0, 6), "Date: ");
  EXPECT_TRUE(std::regex_match(fs[2].substr(6), kDate)) << fs[2];
  EXPECT_TRUE(
      std::regex_match(value_of(fs, "Message-ID"), std::regex(R"(<[0-9a-f]{32}@example\.org>)")))
      << fs[3];
  EXPECT_EQ(body, "Body.\r\n");
}

TEST(MessagePrep, KeepsExistingDateAndMessageIdWhateverTheirCase) {
  std::string raw =
      "DATE: Mon, 01 Jan 2024 00:00:00 +0000\nmessage-id: <x@y>\nFrom: me@example.org\n\nB\n";
  auto m = prepare(raw);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.content,
            "DATE: Mon, 01 Jan 2024 00:00:00 +0000\r\nmessage-id: <x@y>\r\nFrom: "
            "me@example.org\r\n\r\nB\r\n");
}

TEST(MessagePrep, MessageIdsDifferAndTakeTheSendersDomain) {
  auto a = prepare("Subject: a\n\nx\n");
  auto b = prepare("Subject: a\n\nx\n");
  auto ida = value_of(fields(split(a.content).first), "Message-ID");
  auto idb = value_of(fields(split(b.content).first), "Message-ID");
  EXPECT_NE(ida, idb);
  EXPECT_TRUE(ida.ends_with("@example.org>")) << ida;
  // a sender without a domain: the server's host name
  auto c = prepare("Subject: a\n\nx\n", {"r@x"}, false, "localuser");
  EXPECT_TRUE(
      value_of(fields(split(c.content).first), "Message-ID").ends_with("@submit.example.net>"));
}

TEST(MessagePrep, AddsFromOnlyWhenMissing) {
  auto m = prepare("Subject: s\n\nx\n");
  EXPECT_EQ(value_of(fields(split(m.content).first), "From"), "me@example.org");
  auto kept = prepare("from: Someone <s@x>\n\nx\n");
  auto fs = fields(split(kept.content).first);
  EXPECT_EQ(count_of(fs, "From"), 0u);
  EXPECT_EQ(fs[0], "from: Someone <s@x>");
}

TEST(MessagePrep, FullNameF) {
  auto fs = [](std::string name) {
    return value_of(
        fields(split(prepare("Subject: s\n\nx\n", {"r@x"}, false, "me@example.org", name).content)
                   .first),
        "From");
  };
  EXPECT_EQ(fs("Alice Example"), "Alice Example <me@example.org>");
  // specials: quoted, or "Doe, John" would be two addresses
  EXPECT_EQ(fs("Doe, John"), "\"Doe, John\" <me@example.org>");
  EXPECT_EQ(fs("A \"Q\" B\\"), "\"A \\\"Q\\\" B\\\\\" <me@example.org>");
  // not ASCII: RFC 2047 encoded-words, no 8-bit byte in the header
  std::string utf8 = "J\xc3\xb6rg \xc3\x84";
  std::string from = fs(utf8);
  EXPECT_EQ(from, "=?UTF-8?B?" + sasl::base64_encode(utf8) + "?= <me@example.org>");
  // long: several words of at most 75 characters, folded, no character split
  std::string longname;
  for (int i = 0; i < 40; ++i) longname += "\xc3\xa9";  // 80 octets
  auto m = prepare("Subject: s\n\nx\n", {"r@x"}, false, "me@example.org", longname);
  EXPECT_FALSE(m.utf8_headers);
  std::string header = split(m.content).first;
  std::regex word(R"(=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=)");
  std::string decoded;
  std::size_t words = 0;
  for (std::sregex_iterator it(header.begin(), header.end(), word), end; it != end; ++it) {
    EXPECT_LE(it->str().size(), 75u);
    auto d = sasl::base64_decode((*it)[1].str());
    ASSERT_TRUE(d);
    EXPECT_NE(static_cast<unsigned char>(d->front()) & 0xC0, 0x80u) << "split character";
    decoded += *d;
    ++words;
  }
  EXPECT_GE(words, 2u);
  EXPECT_EQ(decoded, longname);
}

TEST(MessagePrep, FullNameWithLineBreakIsUsageError) {
  auto m = prepare("Subject: s\n\nx\n", {"r@x"}, false, "me@example.org",
                   "Eve\r\nBcc: victim@example.org");
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.exit_code, 64);
}

TEST(MessagePrep, SenderFromFromHeaderThenFallback) {
  PrepareInput in;
  std::string raw = "From: \"Doe, J\" <j@example.com>\n\nx\n";
  in.raw = raw;
  in.recipients = {"r@x"};
  in.fallback_sender = "auth@example.net";
  auto m = prepare_message(in);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.reverse_path, "j@example.com");
  std::string none = "Subject: x\n\nx\n";
  in.raw = none;
  EXPECT_EQ(prepare_message(in).reverse_path, "auth@example.net");
  in.fallback_sender.clear();
  auto fail = prepare_message(in);
  EXPECT_FALSE(fail.ok);
  EXPECT_EQ(fail.exit_code, 64);
}

// -- -t ----------------------------------------------------------------------------------------

TEST(MessagePrep, DashTFromToCcBcc) {
  auto m = prepare_t(
      "From: me@example.org\nTo: a@x\ncc: B <b@x>\nBCC: c@x\nReply-To: no@x\n"
      "Resent-To: no2@x\n\nBody\n");
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.recipients, (Strings{"a@x", "b@x", "c@x"}));
}

TEST(MessagePrep, DashTFoldedGroupsCommentsQuotes) {
  auto m = prepare_t(
      "To: \"Doe, John\" <john@x>,\n"
      "   (a comment, with comma) plain@x (trailing (nested) comment),\n"
      "\tTeam: one@x, Two <two@x>;, undisclosed-recipients:;\n"
      "Cc: \"john q\"@x, \"esc\\\"aped\"@x, <\"in angle\"@x>, lit@[IPv6:::1]\n\n.\n");
  ASSERT_TRUE(m.ok) << m.error;
  EXPECT_EQ(m.recipients, (Strings{"john@x", "plain@x", "one@x", "two@x", "\"john q\"@x",
                                   "\"esc\\\"aped\"@x", "\"in angle\"@x", "lit@[IPv6:::1]"}));
}

TEST(MessagePrep, DashTAddsToCommandLineAndDeduplicates) {
  auto m = prepare("To: a@x, b@x\nCc: a@x\nBcc: b@x\n\nx\n", {"c@x", "a@x"}, true);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.recipients, (Strings{"c@x", "a@x", "b@x"}));
}

TEST(MessagePrep, DashTStripsEveryBccFieldAndNothingElse) {
  std::string raw =
      "From: me@example.org\nBcc: h1@x,\n h2@x\nTo: t@x\nbcc:\nSubject: s\n"
      "Date: Mon, 01 Jan 2024 00:00:00 +0000\nMessage-ID: <m@x>\n\nBcc: in the body stays\n";
  auto m = prepare_t(raw);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.recipients, (Strings{"h1@x", "h2@x", "t@x"}));
  EXPECT_EQ(m.content,
            "From: me@example.org\r\nTo: t@x\r\nSubject: s\r\n"
            "Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <m@x>\r\n\r\n"
            "Bcc: in the body stays\r\n");
}

TEST(MessagePrep, DashTWithoutRecipientsIsUsageError) {
  for (const char* raw : {"To: undisclosed-recipients:;\n\nx\n", "Subject: x\n\nx\n", ""}) {
    auto m = prepare_t(raw);
    EXPECT_FALSE(m.ok) << raw;
    EXPECT_EQ(m.exit_code, 64);
  }
}

TEST(MessagePrep, WithoutDashTHeadersNameNoRecipient) {
  auto m = prepare("To: a@x\nBcc: b@x\n\nx\n", {"r@x"});
  EXPECT_EQ(m.recipients, (Strings{"r@x"}));
}

TEST(ParseAddressList, Shapes) {
  EXPECT_EQ(parse_address_list(""), Strings{});
  EXPECT_EQ(parse_address_list("a@x"), Strings{"a@x"});
  EXPECT_EQ(parse_address_list(" A  B <a@x> , , b @ y "), (Strings{"a@x", "b@y"}));
  EXPECT_EQ(parse_address_list("g: ;"), Strings{});
  EXPECT_EQ(parse_address_list("<>"), Strings{});
  EXPECT_EQ(parse_address_list("<@r1,@r2:a@x>"), Strings{"@r1,@r2:a@x"});
  // unterminated pieces end the list without reading past the text
  EXPECT_EQ(parse_address_list("a@x (open"), Strings{"a@x"});
  EXPECT_EQ(parse_address_list("\"open"), Strings{"\"open"});
  EXPECT_EQ(parse_address_list("x@[open"), Strings{"x@[open"});
  EXPECT_EQ(parse_address_list("a@x, (\\"), Strings{"a@x"});
  EXPECT_EQ(parse_address_list("<a@x"), Strings{"a@x"});
}

// -- the header/body boundary, line ends, -i ---------------------------------------------------

TEST(MessagePrep, BareLfBecomesCrlfAndCrlfStays) {
  auto m = prepare("Subject: s\nDate: d\nMessage-ID: <i>\nFrom: f@x\n\nl1\r\nl2\n\nl4");
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.content,
            "Subject: s\r\nDate: d\r\nMessage-ID: <i>\r\nFrom: f@x\r\n\r\nl1\r\nl2\r\n\r\nl4\r\n");
}

TEST(MessagePrep, BareCrIsDataError) {
  auto m = prepare("Subject: s\r\n\r\nsmuggled\r.\r\n");
  EXPECT_FALSE(m.ok);
  EXPECT_EQ(m.exit_code, 65);
}

TEST(MessagePrep, LoneDotLinesAreContentNotTheEnd) {
  // -i/-oi or not, stdin is read to EOF: a "." line is text (the session dot-stuffs it)
  auto m = prepare("From: f@x\nDate: d\nMessage-ID: <i>\n\nbefore\n.\n..\nafter\n");
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(split(m.content).second, "before\r\n.\r\n..\r\nafter\r\n");
}

TEST(MessagePrep, HeadersOnlyGetTheEmptyLine) {
  auto m = prepare("From: f@x\nDate: d\nMessage-ID: <i>\nSubject: only");
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.content, "From: f@x\r\nDate: d\r\nMessage-ID: <i>\r\nSubject: only\r\n\r\n");
}

TEST(MessagePrep, NoHeaderBlockAtAll) {
  for (std::string raw : {"\nbody only\n", "body only\n", ""}) {
    auto m = prepare(raw);
    ASSERT_TRUE(m.ok) << raw;
    auto [header, body] = split(m.content);
    auto fs = fields(header);
    ASSERT_EQ(fs.size(), 3u) << m.content;
    EXPECT_EQ(fs[0], "From: me@example.org");
    EXPECT_EQ(body, raw.empty() ? "" : "body only\r\n");
  }
}

TEST(MessagePrep, ProseWithColonIsBodyNotAField) {
  // RFC 5322 §3.6.8: no space inside a field name. Added fields go before the prose.
  for (std::string first : {"Hi Bob: the numbers", "From me@x Sun Nov 29 13:00:00 2026",
                            ": empty name", " indented: first line", "Gr\xc3\xbc\xc3\x9f: x"}) {
    auto m = prepare(first + "\nmore\n");
    ASSERT_TRUE(m.ok);
    auto [header, body] = split(m.content);
    EXPECT_EQ(fields(header).size(), 3u) << m.content;
    EXPECT_EQ(body, first + "\r\nmore\r\n");
  }
}

TEST(MessagePrep, FieldsThenALineThatIsNoFieldGetsTheEmptyLine) {
  auto m = prepare("Subject: s\nFrom: f@x\nDate: d\nMessage-ID: <i>\nnot a field\nbody\n");
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.content,
            "Subject: s\r\nFrom: f@x\r\nDate: d\r\nMessage-ID: <i>\r\n\r\nnot a field\r\nbody\r\n");
}

TEST(MessagePrep, ObsoleteSpaceBeforeColonAndEmptyValueAreFields) {
  auto m = prepare("Subject : s\nX-Empty:\nFrom: f@x\n\nb\n");
  ASSERT_TRUE(m.ok);
  auto fs = fields(split(m.content).first);
  ASSERT_EQ(fs.size(), 5u);
  EXPECT_EQ(fs[0], "Subject : s");
  EXPECT_EQ(fs[1], "X-Empty:");
}

// -- 8-bit --------------------------------------------------------------------------------------

TEST(MessagePrep, EightBitBodyUnchangedHeadersAscii) {
  std::string body = "Gr\xc3\xbc\xc3\x9f\xe2\x82\xac \xff\xfe raw\r\n";
  auto m = prepare("Subject: s\n\n" + body);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(split(m.content).second, body);
  EXPECT_FALSE(m.utf8_headers);
}

TEST(MessagePrep, Utf8HeaderIsFlagged) {
  auto m = prepare("Subject: Gr\xc3\xbc\xc3\x9f\xc3\xa9\n\nascii\n");
  ASSERT_TRUE(m.ok);
  EXPECT_TRUE(m.utf8_headers);
  EXPECT_NE(m.content.find("Subject: Gr\xc3\xbc\xc3\x9f\xc3\xa9\r\n"), std::string::npos);
}

// -- inputs far beyond real mail: correct, linear, no crash --------------------------------------

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

TEST(MessagePrepHuge, LargeBodyByteExact) {
  std::string line(998, 'x');
  std::string body;
  while (body.size() < (8u << 20)) body += line + "\n";
  auto t = std::chrono::steady_clock::now();
  auto m = prepare("Subject: big\n\n" + body);
  EXPECT_LT(seconds_since(t), 10.0);
  ASSERT_TRUE(m.ok);
  auto [header, got] = split(m.content);
  EXPECT_EQ(got.size(), body.size() + body.size() / 999);
  EXPECT_EQ(got.substr(0, 1000), line + "\r\n");
}

TEST(MessagePrepHuge, ManyFieldsAndOneHugeLine) {
  std::string raw;
  for (int i = 0; i < 50000; ++i) raw += "X-N: " + std::to_string(i) + "\n";
  raw += "X-Long: " + std::string(1u << 20, 'a') + "\n\nb\n";
  auto t = std::chrono::steady_clock::now();
  auto m = prepare(raw);
  EXPECT_LT(seconds_since(t), 10.0);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(fields(split(m.content).first).size(), 50001u + 3u);
}

TEST(MessagePrepHuge, ManyRecipientsInOneFoldedField) {
  std::string raw = "To: r0@x";
  for (int i = 1; i < 50000; ++i) raw += ",\n r" + std::to_string(i) + "@x";
  raw += "\nBcc: " + std::string(1 << 20, '(') + "\n\nb\n";  // a million unclosed comments
  auto t = std::chrono::steady_clock::now();
  auto m = prepare_t(raw);
  EXPECT_LT(seconds_since(t), 10.0);
  ASSERT_TRUE(m.ok);
  ASSERT_EQ(m.recipients.size(), 50000u);
  EXPECT_EQ(m.recipients.back(), "r49999@x");
  EXPECT_EQ(m.content.find("Bcc"), std::string::npos);
}

TEST(MessagePrepHuge, ManyDuplicateRecipientsStayLinearEnough) {
  std::string raw = "To: a@x";
  for (int i = 0; i < 20000; ++i) raw += ", a@x, b" + std::to_string(i % 100) + "@x";
  auto t = std::chrono::steady_clock::now();
  auto m = prepare_t(raw + "\n\nb\n");
  EXPECT_LT(seconds_since(t), 10.0);
  ASSERT_TRUE(m.ok);
  EXPECT_EQ(m.recipients.size(), 101u);
}

}  // namespace
}  // namespace sealpost::send
