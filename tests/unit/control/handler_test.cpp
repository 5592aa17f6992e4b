// Control handler over a real spool and scheduler, no sockets: request lines in, reply lines
// out. Deferred messages are listed with their reason, hold survives flush, release + flush
// delivers, delete is gone for good, show returns the exact bytes, a client that goes away
// stops a listing, and every change names who made it in the log.
#include "control/handler.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "queue/queue_id.hpp"
#include "sasl/base64.hpp"
#include "test_support.hpp"

namespace sealpost::control {
namespace {

using namespace std::chrono_literals;
using sealpost::testing::TempDir;

// Collects reply lines; with a limit, reports the client gone after that many.
class Lines : public LineSink {
 public:
  explicit Lines(std::size_t limit = SIZE_MAX) : limit_(limit) {}
  bool line(std::string_view json) override {
    if (lines.size() >= limit_) return false;
    lines.emplace_back(json);
    return true;
  }
  Json status() const { return Json::parse(lines.back()); }
  Json data(std::size_t i) const { return Json::parse(lines.at(i)); }
  std::vector<std::string> lines;

 private:
  std::size_t limit_;
};

const Peer kRoot{0, 4711, "root"};

// A daemon's queue in miniature: recipients at example.com are "remote" and always deferred
// (like sealpostd without remote delivery); everything else is delivered.
class ControlHandler : public ::testing::Test {
 protected:
  ControlHandler() { start(); }

  void start() {
    spool_.emplace(temp_.path());
    spool_->recover();
    delivery::Scheduler::Options options;
    options.first_retry = 3600s;  // deferred stays deferred unless flushed
    options.max_retry = 3600s;
    scheduler_.emplace(*spool_,
                       delivery::Scheduler::each_recipient(
                           [this](const queue::StoredMessage& m, unsigned i) -> delivery::Outcome {
                             ++attempts_;
                             if (m.envelope.recipients[i].ends_with("@example.com")) {
                               return delivery::TempFail{"451 4.4.0 <" + m.envelope.recipients[i] +
                                                         ">: remote delivery not available yet"};
                             }
                             return delivery::Delivered{};
                           }),
                       options);
    for (const auto& id : spool_->queued_ids()) scheduler_->enqueue(id);
    scheduler_->start();
    handler_.emplace(*spool_, *scheduler_);
  }
  void restart() {
    handler_.reset();
    scheduler_.reset();
    spool_.reset();
    start();
  }

  std::string submit(const std::string& rcpt,
                     const std::string& content = "Subject: t\r\n\r\nx\r\n") {
    const std::string id = queue::make_queue_id();
    const std::string_view parts[] = {content};
    EXPECT_TRUE(spool_->commit(id, queue::Envelope{"alice@example.org", {rcpt}}, parts).ok());
    scheduler_->enqueue(id);
    return id;
  }
  void wait_for(const std::string& id, delivery::Scheduler::State state) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      const auto status = scheduler_->status(id);
      if (status && status->state == state) return;
      std::this_thread::sleep_for(1ms);
    }
    FAIL() << id << " never reached the expected state";
  }
  Lines ask(const Json& request, const Peer& peer = kRoot) {
    Lines out;
    handler_->handle(dump(request), peer, out);
    EXPECT_FALSE(out.lines.empty());
    return out;
  }

  TempDir temp_;
  std::atomic<int> attempts_ = 0;
  std::optional<queue::Spool> spool_;
  std::optional<delivery::Scheduler> scheduler_;
  std::optional<Handler> handler_;
};

TEST_F(ControlHandler, ListShowsDeferredMessagesWithTheirReason) {
  const std::string remote = submit("friend@example.com");
  wait_for(remote, delivery::Scheduler::State::kDeferred);
  const Lines out = ask({{"command", "list"}});
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_EQ(out.lines[1], R"({"ok":true,"count":1})");
  const auto info = parse_message(out.lines[0]);
  ASSERT_TRUE(info.has_value()) << out.lines[0];
  EXPECT_EQ(info->queue_id, remote);
  EXPECT_EQ(info->status, Status::kDeferred);
  EXPECT_EQ(info->attempts, 1u);
  EXPECT_TRUE(info->next_attempt.has_value());
  EXPECT_EQ(info->sender, "alice@example.org");
  EXPECT_EQ(info->message_size, 17u);
  EXPECT_EQ(info->recipients[0].delay_reason,
            "451 4.4.0 <friend@example.com>: remote delivery not available yet");
  EXPECT_EQ(info->last_error, info->recipients[0].delay_reason);
}

TEST_F(ControlHandler, ListAndShowMarkFinishedRecipients) {
  const std::string remote = submit("friend@example.com");
  wait_for(remote, delivery::Scheduler::State::kDeferred);
  EXPECT_FALSE(parse_message(ask({{"command", "list"}}).lines[0])->recipients[0].finished);
  ASSERT_EQ(spool_->finish_recipients(remote, {0}), 0);
  const auto listed = parse_message(ask({{"command", "list"}}).lines[0]);
  ASSERT_TRUE(listed.has_value());
  EXPECT_TRUE(listed->recipients[0].finished);
  const auto shown = parse_message(ask({{"command", "show"}, {"id", remote}}).lines[0]);
  ASSERT_TRUE(shown.has_value());
  EXPECT_TRUE(shown->recipients[0].finished);
}

TEST_F(ControlHandler, EmptyQueueAndBadRequests) {
  EXPECT_EQ(ask({{"command", "list"}}).lines, std::vector<std::string>{R"({"ok":true,"count":0})"});
  Lines out;
  handler_->handle("not json", kRoot, out);
  EXPECT_EQ(out.status()["error"], "bad-request");
  const std::string id = queue::make_queue_id();
  EXPECT_EQ(ask({{"command", "show"}, {"id", id}}).status()["error"], "not-found");
}

TEST_F(ControlHandler, HoldKeepsAMessageThroughFlushUntilReleased) {
  const std::string id = submit("friend@example.com");
  wait_for(id, delivery::Scheduler::State::kDeferred);
  Lines out = ask({{"command", "hold"}, {"ids", {id}}});
  EXPECT_EQ(out.lines, (std::vector<std::string>{R"({"queue_id":")" + id + R"(","result":"held"})",
                                                 R"({"ok":true,"count":1})"}));
  EXPECT_EQ(ask({{"command", "hold"}, {"ids", {id}}}).data(0)["result"], "already-held");
  EXPECT_EQ(ask({{"command", "flush"}, {"ids", {id}}}).data(0)["result"], "held");
  EXPECT_EQ(ask({{"command", "flush"}}).lines,
            std::vector<std::string>{R"({"ok":true,"count":0,"flushed":0})"});
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(attempts_.load(), 1);
  EXPECT_EQ(ask({{"command", "list"}}).data(0)["status"], "held");

  out = ask({{"command", "release"}, {"ids", {id}}});
  EXPECT_EQ(out.data(0)["result"], "released");
  EXPECT_EQ(ask({{"command", "list"}}).data(0)["status"], "deferred");  // its retry is an hour off
  EXPECT_EQ(ask({{"command", "flush"}}).status()["flushed"], 1);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (attempts_.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(attempts_.load(), 2);
}

TEST_F(ControlHandler, HoldSurvivesARestartAndDeleteIsGoneForGood) {
  const std::string held = submit("friend@example.com");
  const std::string deleted = submit("other@example.com");
  const std::string unknown = queue::make_queue_id();
  wait_for(deleted, delivery::Scheduler::State::kDeferred);
  EXPECT_EQ(ask({{"command", "hold"}, {"ids", {held}}}).data(0)["result"], "held");
  const Lines out = ask({{"command", "delete"}, {"ids", {deleted, unknown}}});
  EXPECT_EQ(out.data(0)["result"], "deleted");
  EXPECT_EQ(out.data(1)["result"], "not-found");
  EXPECT_EQ(out.status()["count"], 2);

  restart();
  const Lines list = ask({{"command", "list"}});
  ASSERT_EQ(list.lines.size(), 2u);
  EXPECT_EQ(list.data(0)["queue_id"], held);
  EXPECT_EQ(list.data(0)["status"], "held");
}

TEST_F(ControlHandler, DeleteAll) {
  for (int i = 0; i < 5; ++i) submit("x@example.com");
  const Lines out = ask({{"command", "delete"}, {"all", true}});
  EXPECT_EQ(out.status()["count"], 5);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(out.data(i)["result"], "deleted");
  EXPECT_EQ(ask({{"command", "list"}}).status()["count"], 0);
  EXPECT_TRUE(spool_->queued_ids().empty());
}

TEST_F(ControlHandler, ShowReturnsEnvelopeStatusAndExactContent) {
  std::string content = "Subject: bytes\r\n\r\n8-bit \xc3\xa9 and raw \xff\xfe\r\n";
  content.push_back('\0');
  const std::string id = submit("friend@example.com", content);
  wait_for(id, delivery::Scheduler::State::kDeferred);
  const Lines out = ask({{"command", "show"}, {"id", id}});
  ASSERT_EQ(out.lines.size(), 2u);
  const Json data = out.data(0);
  EXPECT_EQ(data["queue_id"], id);
  EXPECT_EQ(data["status"], "deferred");
  EXPECT_EQ(data["message_size"], content.size());
  EXPECT_EQ(sasl::base64_decode(data["content_base64"].get<std::string>()), content);
  EXPECT_EQ(out.status()["count"], 1);
}

TEST_F(ControlHandler, ListingStopsWhenTheClientGoes) {
  for (int i = 0; i < 20; ++i) submit("x@example.com");
  Lines out(5);
  handler_->handle(R"({"command":"list"})", kRoot, out);
  EXPECT_EQ(out.lines.size(), 5u);  // no status line: nobody is listening
}

TEST_F(ControlHandler, ChangesAreLoggedWithTheIdAndWhoAsked) {
  std::ostringstream log;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  const std::string id = submit("x@example.com");
  ask({{"command", "delete"}, {"ids", {id}}}, Peer{1000, 42, "admin"});
  spdlog::set_default_logger(previous);
  EXPECT_NE(log.str().find("control: deleted " + id + " by admin (uid 1000, pid 42)"),
            std::string::npos)
      << log.str();
}

}  // namespace
}  // namespace sealpost::control
