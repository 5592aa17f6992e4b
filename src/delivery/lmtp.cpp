// Lmtp::deliver: connect, smtp::ClientSession in LMTP mode over net::converse, QUIT, and the
// session's per-recipient results as delivery outcomes. A session failure (greeting or LHLO
// refused, a malformed reply, a lost connection, the timeout) is our configuration's or the
// server's trouble, never the sender's: every recipient it left undecided is deferred, even
// when the server's reply was a 5xx (Postfix defers a broken mailbox_transport the same way).
#include "delivery/lmtp.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "net/client_connection.hpp"
#include "net/client_dialogue.hpp"

namespace sealpost::delivery {

namespace {

using net::Clock;

constexpr std::chrono::seconds kConnectTimeout{30};

TempFail defer(const std::string& target, std::string_view why) {
  return TempFail{"451 4.4.1 LMTP " + target + ": " + std::string(why)};
}

bool same_reply(const smtp::Reply& a, const smtp::Reply& b) {
  return a.code == b.code && a.enhanced == b.enhanced && a.lines == b.lines;
}

Outcome outcome_of(const smtp::RecipientResult& r, const smtp::TransactionResult& t,
                   const smtp::SessionFailure& f, const std::string& target) {
  // The reply the session failed on was not about this recipient (a refused greeting or
  // LHLO, an unsolicited 5xx): defer, whatever its code.
  bool session_reply = f.reason != smtp::FailureReason::kNone && same_reply(r.reply, f.reply);
  switch (r.outcome) {
    case smtp::Outcome::kDelivered:
      return Delivered{};  // in the mailbox: "delivered", as by Maildir (not "relayed")
    case smtp::Outcome::kPermFail:
      if (session_reply) break;
      if (r.reply.code != 0 && r.reply.permanent()) return PermFail{r.reply.summary()};
      // Refused before the server could say (no 8BITMIME, a bad address, ...).
      return PermFail{"554 " + std::string(smtp::local_refusal_code(t.reason)) + " " + t.detail};
    case smtp::Outcome::kTempFail:
      if (!session_reply && r.reply.code != 0 && r.reply.transient())
        return TempFail{r.reply.summary()};
      break;
    case smtp::Outcome::kPending:
      break;
  }
  std::string why = f.reason != smtp::FailureReason::kNone ? f.detail : t.detail;
  if (why.empty()) why = "no reply for this recipient";
  const smtp::Reply& reply = f.reason != smtp::FailureReason::kNone ? f.reply : r.reply;
  if (reply.code != 0) why += " (server said \"" + reply.summary() + "\")";
  return defer(target, why);
}

std::string summary(const std::vector<Outcome>& outcomes) {
  std::size_t delivered = 0, deferred = 0, bounced = 0;
  for (const Outcome& o : outcomes) {
    if (std::holds_alternative<Delivered>(o)) ++delivered;
    if (std::holds_alternative<TempFail>(o)) ++deferred;
    if (std::holds_alternative<PermFail>(o)) ++bounced;
  }
  return "delivered=" + std::to_string(delivered) + " deferred=" + std::to_string(deferred) +
         " bounced=" + std::to_string(bounced);
}

}  // namespace

std::vector<Outcome> Lmtp::deliver(std::string_view queue_id, smtp::OutgoingMessage message) const {
  const std::string target = target_.text();
  const std::size_t count = message.recipients.size();
  // Final delivery: RFC 3461 §5.2.2 success reports are ours to send ("delivered"), and
  // REQUIRETLS (RFC 8689) ends at the last hop, which we are.
  message.ret = smtp::Ret::kUnspecified;
  message.envid.clear();
  message.recipient_dsn.clear();
  message.require_tls = false;

  const auto started = Clock::now();
  const net::Deadline deadline = started + timeout_;
  net::ClientConnection conn;
  auto connect_by = std::min(deadline, started + kConnectTimeout);
  auto connected = target_.socket.empty()
                       ? conn.connect(target_.address, target_.port, {target_.address}, connect_by)
                       : conn.connect_unix(target_.socket.string(), connect_by);
  if (!connected) {
    spdlog::warn("delivery: {} lmtp={} {} recipient(s) deferred: {}", queue_id, target, count,
                 connected.error().message);
    return std::vector<Outcome>(count, defer(target, connected.error().message));
  }
  smtp::ClientSettings settings;
  settings.helo_name = lhlo_name_;
  settings.tls = smtp::TlsMode::kNone;
  settings.lmtp = true;
  smtp::ClientSession session(settings);
  std::size_t index = session.add_message(std::move(message));
  session.quit();
  net::converse(session, conn, deadline, [] { return false; });
  conn.close();
  for (const std::string& line : session.take_log())
    spdlog::debug("delivery: {} lmtp={}: {}", queue_id, target, line);

  const smtp::TransactionResult& t = session.results().at(index);
  const smtp::SessionFailure& f = session.failure();
  std::vector<Outcome> outcomes(count, defer(target, "internal: no result"));
  for (std::size_t i = 0; i < count && i < t.recipients.size(); ++i)
    outcomes[i] = outcome_of(t.recipients[i], t, f, target);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  std::string line = summary(outcomes);
  if (f.reason != smtp::FailureReason::kNone)
    line += " session=" + std::string(smtp::failure_reason_name(f.reason)) + ": " + f.detail;
  spdlog::info("delivery: {} lmtp={} {} recipient(s) in one transaction: {} ({} ms)", queue_id,
               target, count, line, ms.count());
  return outcomes;
}

}  // namespace sealpost::delivery
