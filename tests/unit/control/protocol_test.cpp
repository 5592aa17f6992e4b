// Control protocol: strict request parsing (every way a request can be wrong has its error),
// request round trips, and the message shape: every key present, nulls where nothing applies,
// the scheduler's view folded in, and parsing back what was printed.
#include "control/protocol.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "control/message_info.hpp"
#include "queue/envelope.hpp"
#include "queue/queue_id.hpp"

namespace sealpost::control {
namespace {

const std::string kId = "0006411A2B3C4D5E0F3A1";

std::string error_of(std::string_view line) {
  const auto request = parse_request(line);
  return request ? std::string("(none)")
                 : std::string(request.error().code) + ": " + request.error().message;
}

TEST(ControlProtocol, ParsesEveryCommand) {
  auto r = parse_request(R"({"command":"list"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::kList);

  r = parse_request(R"({"command":"show","id":")" + kId + R"("})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->command, Command::kShow);
  EXPECT_EQ(r->ids, std::vector<std::string>{kId});

  r = parse_request(R"({"command":"flush"})");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ids.empty());

  for (const char* command : {"flush", "hold", "release", "delete"}) {
    r = parse_request(std::string(R"({"command":")") + command + R"(","ids":[")" + kId + R"("]})");
    ASSERT_TRUE(r) << command;
    EXPECT_EQ(command_name(r->command), command);
    EXPECT_EQ(r->ids, std::vector<std::string>{kId});
  }
  r = parse_request(R"( {"all": true, "command": "delete"} )");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->all);
}

TEST(ControlProtocol, RefusesWhatItDoesNotUnderstand) {
  EXPECT_EQ(error_of(""), "bad-request: a request is one JSON object on one line");
  EXPECT_EQ(error_of("list"), "bad-request: a request is one JSON object on one line");
  EXPECT_EQ(error_of(R"(["list"])"), "bad-request: a request is one JSON object on one line");
  EXPECT_EQ(error_of(R"({"cmd":"list"})"), "bad-request: \"command\" missing");
  EXPECT_EQ(error_of(R"({"command":"purge"})"), "bad-request: unknown command \"purge\"");
  EXPECT_EQ(error_of(R"({"command":"list","json":true})"),
            "bad-request: unexpected member \"json\"");
  EXPECT_EQ(error_of(R"({"command":"hold","all":true})"), "bad-request: unexpected member \"all\"");
  EXPECT_EQ(error_of(R"({"command":"hold"})"), "bad-request: \"ids\" missing");
  EXPECT_EQ(error_of(R"({"command":"hold","ids":[]})"),
            "bad-request: \"ids\" is a non-empty array");
  EXPECT_EQ(error_of(R"({"command":"hold","ids":"x"})"),
            "bad-request: \"ids\" is a non-empty array");
  EXPECT_EQ(error_of(R"({"command":"hold","ids":[1]})"), "bad-request: a queue id is a string");
  EXPECT_EQ(error_of(R"({"command":"hold","ids":["../../etc"]})"),
            "bad-request: not a queue id: \"../../etc\"");
  EXPECT_EQ(error_of(R"({"command":"show"})"), "bad-request: \"id\" missing");
  EXPECT_EQ(error_of(R"({"command":"delete"})"), "bad-request: \"ids\" missing (or \"all\": true)");
  EXPECT_EQ(error_of(R"({"command":"delete","all":false})"),
            "bad-request: \"ids\" missing (or \"all\": true)");
  EXPECT_EQ(error_of(R"({"command":"delete","all":"yes"})"),
            "bad-request: \"all\" is true or false");
  EXPECT_EQ(error_of(R"({"command":"delete","all":true,"ids":[")" + kId + R"("]})"),
            "bad-request: \"all\" and \"ids\" together");
  EXPECT_EQ(error_of(std::string(kMaxRequestSize + 1, ' ')),
            "too-large: request longer than 64 KiB");

  Json many = {{"command", "hold"}, {"ids", Json::array()}};
  for (std::size_t i = 0; i <= kMaxIds; ++i) many["ids"].push_back(kId);
  EXPECT_EQ(error_of(dump(many)), "bad-request: at most 1000 ids per request");
}

TEST(ControlProtocol, RequestsRoundTrip) {
  for (const Request& request :
       {Request{Command::kList, {}, false}, Request{Command::kShow, {kId}, false},
        Request{Command::kFlush, {}, false}, Request{Command::kHold, {kId, kId}, false},
        Request{Command::kDelete, {}, true}}) {
    const auto parsed = parse_request(dump(to_json(request)));
    ASSERT_TRUE(parsed) << dump(to_json(request));
    EXPECT_EQ(parsed->command, request.command);
    EXPECT_EQ(parsed->ids, request.ids);
    EXPECT_EQ(parsed->all, request.all);
  }
}

TEST(ControlProtocol, StatusLines) {
  EXPECT_EQ(dump(ok_status(3)), R"({"ok":true,"count":3})");
  EXPECT_EQ(dump(error_status(error::kNotFound, "X: not in the queue")),
            R"({"ok":false,"error":"not-found","message":"X: not in the queue"})");
}

TEST(MessageInfo, ShapeWithoutTheDaemon) {
  const queue::Envelope envelope{"alice@example.org", {"bob@example.com"}};
  const MessageInfo info = describe(kId, envelope, 1234, false, nullptr);
  const auto arrival = static_cast<std::int64_t>(*queue::queue_id_micros(kId) / 1000000);
  EXPECT_EQ(dump(to_json(info)),
            R"({"queue_id":"0006411A2B3C4D5E0F3A1","arrival_time":)" + std::to_string(arrival) +
                R"(,"message_size":1234,"sender":"alice@example.org","recipients":[)"
                R"({"address":"bob@example.com","delay_reason":null,"finished":false}],)"
                R"("status":"queued",)"
                R"("attempts":0,"next_attempt":null,"last_error":null,"waiting_for":null})");
  EXPECT_EQ(describe(kId, envelope, 1, true, nullptr).status, Status::kHeld);
}

TEST(MessageInfo, SchedulerStatusAndRoundTrip) {
  const queue::Envelope envelope{"", {"a@example.org", "b@example.com", "c@example.net"}};
  delivery::Scheduler::Status status;
  status.state = delivery::Scheduler::State::kDeferred;
  status.attempts = 3;
  status.next_attempt = std::chrono::system_clock::time_point(std::chrono::seconds(1800000000));
  status.deferrals = {{1, "451 4.4.0 b later"}, {2, "452 4.2.2 c full"}};
  const std::uint32_t finished[] = {0, 7};  // 7: beyond the recipients, ignored
  const MessageInfo info = describe(kId, envelope, 10, false, &status, finished);
  EXPECT_EQ(info.status, Status::kDeferred);
  EXPECT_TRUE(info.recipients[0].finished);
  EXPECT_FALSE(info.recipients[1].finished);
  EXPECT_FALSE(info.recipients[2].finished);
  EXPECT_EQ(info.attempts, 3u);
  EXPECT_EQ(info.next_attempt, 1800000000);
  EXPECT_EQ(info.last_error, "451 4.4.0 b later");
  EXPECT_FALSE(info.recipients[0].delay_reason.has_value());
  EXPECT_EQ(info.recipients[2].delay_reason, "452 4.2.2 c full");

  EXPECT_FALSE(info.waiting_for.has_value());

  const auto back = parse_message(dump(to_json(info)));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(dump(to_json(*back)), dump(to_json(info)));
  EXPECT_TRUE(back->recipients[0].finished);
  EXPECT_EQ(back->sender, "");

  // Queued behind a full destination: the listing says which.
  delivery::Scheduler::Status parked;
  parked.waiting_for = "example.com";
  const MessageInfo waiting = describe(kId, envelope, 10, false, &parked);
  EXPECT_EQ(waiting.status, Status::kQueued);
  EXPECT_EQ(waiting.waiting_for, "example.com");
  const auto waiting_back = parse_message(dump(to_json(waiting)));
  ASSERT_TRUE(waiting_back.has_value());
  EXPECT_EQ(waiting_back->waiting_for, "example.com");
}

TEST(MessageInfo, ParsingChecksTheShapeAndSkipsOtherMembers) {
  MessageInfo info;
  info.queue_id = kId;
  info.recipients = {{"a@example.org", "451 later", false}, {"b@example.org", {}, true}};
  info.next_attempt = -5;
  const Json good = to_json(info);

  // Members it does not know are skipped whole, whatever their value.
  Json extra = good;
  extra["content_base64"] = "AAAA";
  extra["future"] = Json{{"nested", Json::array({1, Json{{"x", nullptr}}})}, {"flag", true}};
  extra["recipients"][0]["note"] = Json::array({2.5});
  auto parsed = parse_message(dump(extra));
  ASSERT_TRUE(parsed.has_value()) << dump(extra);
  EXPECT_EQ(dump(to_json(*parsed)), dump(good));

  // A MessageInfo read into again keeps nothing of the previous message.
  MessageInfo reused = *parsed;
  reused.waiting_for = "left.over";
  info.recipients.pop_back();
  info.last_error = "x";
  ASSERT_TRUE(parse_message(dump(to_json(info)), reused));
  EXPECT_EQ(dump(to_json(reused)), dump(to_json(info)));

  const auto broken = [&good](auto change) {
    Json json = good;
    change(json);
    return !parse_message(dump(json)).has_value();
  };
  EXPECT_TRUE(broken([](Json& j) { j["status"] = "lost"; }));
  EXPECT_TRUE(broken([](Json& j) { j.erase("recipients"); }));
  EXPECT_TRUE(broken([](Json& j) { j.erase("last_error"); }));
  EXPECT_TRUE(broken([](Json& j) { j["queue_id"] = 7; }));
  EXPECT_TRUE(broken([](Json& j) { j["message_size"] = -1; }));
  EXPECT_TRUE(broken([](Json& j) { j["attempts"] = "2"; }));
  EXPECT_TRUE(broken([](Json& j) { j["sender"] = nullptr; }));
  EXPECT_TRUE(broken([](Json& j) { j["recipients"] = "a@example.org"; }));
  EXPECT_TRUE(broken([](Json& j) { j["recipients"][0].erase("delay_reason"); }));
  EXPECT_TRUE(broken([](Json& j) { j["recipients"][1]["finished"] = "yes"; }));
  // A reply from a daemon that predates `finished` still parses: nothing finished.
  Json older = good;
  older["recipients"][1].erase("finished");
  parsed = parse_message(dump(older));
  ASSERT_TRUE(parsed.has_value()) << dump(older);
  EXPECT_FALSE(parsed->recipients[1].finished);
  // ... and one that predates `waiting_for`: waiting for nothing.
  older.erase("waiting_for");
  parsed = parse_message(dump(older));
  ASSERT_TRUE(parsed.has_value()) << dump(older);
  EXPECT_FALSE(parsed->waiting_for.has_value());
  EXPECT_TRUE(broken([](Json& j) { j["waiting_for"] = 3; }));
  EXPECT_TRUE(broken([](Json& j) { j["recipients"].push_back("c@example.org"); }));
  EXPECT_FALSE(parse_message(dump(good).substr(0, 40)).has_value());
  EXPECT_FALSE(parse_message("[]").has_value());
  EXPECT_FALSE(parse_message("").has_value());
}

TEST(MessageInfo, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  MessageInfo info;
  info.queue_id = kId;
  info.sender = "bad\xff@example.org";
  EXPECT_NE(dump(to_json(info)).find("bad\xef\xbf\xbd@example.org"), std::string::npos);
}

TEST(MessageInfo, EnvelopeParametersDecoded) {
  queue::Envelope e{"alice@example.org", {"bob@example.com", "carol@example.com", "dan@b.test"}};
  e.smtputf8 = true;
  e.body_8bit = true;
  e.requiretls = true;
  e.ret = queue::Ret::kHdrs;
  e.envid = "QQ+1";
  e.recipient_dsn = {{queue::kNotifySuccess | queue::kNotifyDelay, "rfc822", "Bob+x@example.com"},
                     {queue::kNotifyNever, "utf-8", "c\xc3\xa1rol@example.com"},
                     {}};
  EXPECT_EQ(dump(envelope_json(e)),
            R"({"smtputf8":true,"body":"8BITMIME","requiretls":true,"ret":"HDRS","envid":"QQ+1",)"
            R"("recipients":[{"notify":"SUCCESS,DELAY","orcpt":"rfc822;Bob+x@example.com"},)"
            "{\"notify\":\"NEVER\",\"orcpt\":\"utf-8;c\xc3\xa1rol@example.com\"},"
            R"({"notify":null,"orcpt":null}]})");
  // Nothing given: every member present, recipients without DSN entries get nulls too.
  EXPECT_EQ(dump(envelope_json(queue::Envelope{"", {"x@y.test"}})),
            R"({"smtputf8":false,"body":null,"requiretls":false,"ret":null,"envid":null,)"
            R"("recipients":[{"notify":null,"orcpt":null}]})");
}

}  // namespace
}  // namespace sealpost::control
