// MessageInfo <-> JSON: the listing shape documented in docs/control-protocol.md. Every key is
// always present (null when it does not apply), so scripts can rely on the shape.
#include "control/message_info.hpp"

#include <chrono>
#include <iterator>

#include "queue/queue_id.hpp"
#include "smtp/dsn.hpp"

namespace sealpost::control {
namespace {

constexpr std::string_view kStatusNames[] = {"queued", "deferred", "held", "active"};

Status from_state(delivery::Scheduler::State state) {
  switch (state) {
    case delivery::Scheduler::State::kQueued:
      return Status::kQueued;
    case delivery::Scheduler::State::kDeferred:
      return Status::kDeferred;
    case delivery::Scheduler::State::kHeld:
      return Status::kHeld;
    case delivery::Scheduler::State::kActive:
      return Status::kActive;
  }
  return Status::kQueued;
}

}  // namespace

std::string_view status_name(Status status) { return kStatusNames[static_cast<int>(status)]; }

std::optional<Status> parse_status(std::string_view name) {
  for (int i = 0; i < 4; ++i) {
    if (kStatusNames[i] == name) return static_cast<Status>(i);
  }
  return std::nullopt;
}

MessageInfo describe(std::string queue_id, const queue::Envelope& envelope, std::uint64_t size,
                     bool held, const delivery::Scheduler::Status* status,
                     std::span<const std::uint32_t> finished) {
  MessageInfo info;
  describe(queue_id, envelope, size, held, status, finished, info);
  return info;
}

void describe(std::string_view queue_id, const queue::Envelope& envelope, std::uint64_t size,
              bool held, const delivery::Scheduler::Status* status,
              std::span<const std::uint32_t> finished, MessageInfo& info) {
  info.queue_id.assign(queue_id);
  info.arrival_time =
      static_cast<std::int64_t>(queue::queue_id_micros(queue_id).value_or(0) / 1000000);
  info.message_size = size;
  info.sender.assign(envelope.reverse_path);
  info.recipients.resize(envelope.recipients.size());
  for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
    info.recipients[i].address.assign(envelope.recipients[i]);
    info.recipients[i].delay_reason.reset();
    info.recipients[i].finished = false;
  }
  for (const std::uint32_t i : finished) {
    if (i < info.recipients.size()) info.recipients[i].finished = true;
  }
  info.status = held ? Status::kHeld : Status::kQueued;
  info.attempts = 0;
  info.next_attempt.reset();
  info.last_error.reset();
  info.waiting_for.reset();
  if (status == nullptr) return;
  info.status = from_state(status->state);
  info.attempts = status->attempts;
  if (status->next_attempt) {
    info.next_attempt =
        std::chrono::duration_cast<std::chrono::seconds>(status->next_attempt->time_since_epoch())
            .count();
  }
  if (!status->waiting_for.empty()) info.waiting_for = status->waiting_for;
  for (const auto& deferral : status->deferrals) {
    if (deferral.rcpt < info.recipients.size()) {
      info.recipients[deferral.rcpt].delay_reason = deferral.reply;
    }
    if (!info.last_error) info.last_error = deferral.reply;
  }
}

Json to_json(const MessageInfo& message) {
  Json json;
  assign_json(message, json);
  return json;
}

void assign_json(const MessageInfo& message, Json& json) {
  static const char* const kKeys[] = {"queue_id",   "arrival_time", "message_size", "sender",
                                      "recipients", "status",       "attempts",     "next_attempt",
                                      "last_error", "waiting_for"};
  if (!json.is_object() || json.size() != std::size(kKeys)) {
    json = Json::object();
    for (const char* key : kKeys) json[key] = nullptr;  // the documented order
  }
  // A string value is overwritten in place, keeping its buffer.
  const auto set = [](Json& value, std::string_view text) {
    if (value.is_string()) {
      value.get_ref<std::string&>().assign(text);
    } else {
      value = std::string(text);
    }
  };
  const auto set_optional = [&set](Json& value, const std::optional<std::string>& text) {
    if (text) {
      set(value, *text);
    } else {
      value = nullptr;
    }
  };
  set(json["queue_id"], message.queue_id);
  json["arrival_time"] = message.arrival_time;
  json["message_size"] = message.message_size;
  set(json["sender"], message.sender);
  Json& recipients = json["recipients"];
  if (!recipients.is_array()) recipients = Json::array();
  auto& list = recipients.get_ref<Json::array_t&>();
  list.resize(message.recipients.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    Json& r = list[i];
    if (!r.is_object() || r.size() != 3) {
      r = Json::object();
      r["address"] = nullptr;
      r["delay_reason"] = nullptr;
      r["finished"] = false;
    }
    set(r["address"], message.recipients[i].address);
    set_optional(r["delay_reason"], message.recipients[i].delay_reason);
    r["finished"] = message.recipients[i].finished;
  }
  set(json["status"], status_name(message.status));
  json["attempts"] = message.attempts;
  json["next_attempt"] = message.next_attempt ? Json(*message.next_attempt) : Json(nullptr);
  set_optional(json["last_error"], message.last_error);
  set_optional(json["waiting_for"], message.waiting_for);
}

Json envelope_json(const queue::Envelope& envelope) {
  const auto text_or_null = [](const std::string& text) {
    return text.empty() ? Json(nullptr) : Json(text);
  };
  Json json = Json::object();
  json["smtputf8"] = envelope.smtputf8;
  json["body"] = envelope.body_8bit ? Json("8BITMIME") : Json(nullptr);
  json["requiretls"] = envelope.requiretls;
  json["ret"] = envelope.ret == queue::Ret::kFull   ? Json("FULL")
                : envelope.ret == queue::Ret::kHdrs ? Json("HDRS")
                                                    : Json(nullptr);
  json["envid"] = text_or_null(envelope.envid);
  Json recipients = Json::array();
  for (std::size_t i = 0; i < envelope.recipients.size(); ++i) {
    const queue::RecipientDsn dsn = envelope.dsn_for(i);
    Json r = Json::object();
    r["notify"] = dsn.notify == 0 ? Json(nullptr) : Json(smtp::format_notify(dsn.notify));
    r["orcpt"] = dsn.orcpt_type.empty() ? Json(nullptr) : Json(dsn.orcpt_type + ";" + dsn.orcpt);
    recipients.push_back(std::move(r));
  }
  json["recipients"] = std::move(recipients);
  return json;
}

namespace {

// SAX events -> MessageInfo. Depth 1 is the message object, depth 2 a recipient object; the
// value of an unknown member (content_base64, or members added later) is skipped whole.
class MessageSax {
 public:
  explicit MessageSax(MessageInfo& out) : out_(out) {}
  bool complete() const { return (seen_ & kAllFields) == kAllFields && depth_ == 0; }

  bool null() {
    if (skip_ > 0 || field_ == Field::kUnknown) return true;
    switch (field_) {
      case Field::kNextAttempt:
        out_.next_attempt.reset();
        return mark();
      case Field::kLastError:
        out_.last_error.reset();
        return mark();
      case Field::kWaitingFor:
        out_.waiting_for.reset();
        return mark();
      case Field::kDelayReason:
        recipient().delay_reason.reset();
        return mark();
      default:
        return false;
    }
  }
  bool boolean(bool value) {
    if (skip_ > 0 || field_ == Field::kUnknown) return true;
    if (field_ != Field::kFinished) return false;
    recipient().finished = value;
    return mark();
  }
  bool number_float(Json::number_float_t, const std::string&) {
    return skip_ > 0 || field_ == Field::kUnknown;
  }
  bool binary(Json::binary_t&) { return skip_ > 0 || field_ == Field::kUnknown; }
  bool number_integer(Json::number_integer_t value) {
    if (skip_ > 0 || field_ == Field::kUnknown) return true;
    if (field_ == Field::kArrivalTime)
      out_.arrival_time = value;
    else if (field_ == Field::kNextAttempt)
      out_.next_attempt = value;
    else
      return false;  // sizes and counts are never negative
    return mark();
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    if (skip_ > 0 || field_ == Field::kUnknown) return true;
    switch (field_) {
      case Field::kArrivalTime:
        out_.arrival_time = static_cast<std::int64_t>(value);
        return mark();
      case Field::kMessageSize:
        out_.message_size = value;
        return mark();
      case Field::kAttempts:
        out_.attempts = static_cast<unsigned>(value);
        return mark();
      case Field::kNextAttempt:
        out_.next_attempt = static_cast<std::int64_t>(value);
        return mark();
      default:
        return false;
    }
  }
  bool string(std::string& value) {
    if (skip_ > 0 || field_ == Field::kUnknown) return true;
    switch (field_) {
      case Field::kQueueId:
        out_.queue_id = std::move(value);
        return mark();
      case Field::kSender:
        out_.sender = std::move(value);
        return mark();
      case Field::kStatus:
        if (const auto status = parse_status(value)) {
          out_.status = *status;
          return mark();
        }
        return false;
      case Field::kLastError:
        out_.last_error = std::move(value);
        return mark();
      case Field::kWaitingFor:
        out_.waiting_for = std::move(value);
        return mark();
      case Field::kAddress:
        recipient().address = std::move(value);
        return mark();
      case Field::kDelayReason:
        recipient().delay_reason = std::move(value);
        return mark();
      default:
        return false;
    }
  }
  bool start_object(std::size_t) {
    if (skip_ > 0 || field_ == Field::kUnknown) return ++skip_ > 0;
    if (depth_ == 0) {
      depth_ = 1;
      out_.waiting_for.reset();  // optional: not left over from a reused MessageInfo
      return true;
    }
    if (depth_ != 1 || !in_recipients_) return false;
    depth_ = 2;
    if (recipients_ == out_.recipients.size()) out_.recipients.emplace_back();
    ++recipients_;
    recipient().finished = false;  // optional: a reply from before it existed has none
    rcpt_seen_ = 0;
    field_ = Field::kNone;
    return true;
  }
  bool end_object() {
    if (skip_ > 0) return --skip_, done_with_value();
    // address and delay_reason, always; finished is optional
    if (depth_ == 2 && (rcpt_seen_ & 3u) != 3u) return false;
    --depth_;
    field_ = Field::kNone;
    return true;
  }
  bool start_array(std::size_t) {
    if (skip_ > 0 || field_ == Field::kUnknown) return ++skip_ > 0;
    if (depth_ != 1 || field_ != Field::kRecipients) return false;
    in_recipients_ = true;
    recipients_ = 0;
    return true;
  }
  bool end_array() {
    if (skip_ > 0) return --skip_, done_with_value();
    out_.recipients.resize(recipients_);
    in_recipients_ = false;
    field_ = Field::kRecipients;
    return mark();
  }
  bool key(std::string& name) {
    if (skip_ > 0) return true;
    field_ = depth_ == 2 ? recipient_field(name) : message_field(name);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  enum class Field {
    kNone,
    // message members, in order (their bit in seen_ is 1 << index - 1)
    kQueueId,
    kArrivalTime,
    kMessageSize,
    kSender,
    kRecipients,
    kStatus,
    kAttempts,
    kNextAttempt,
    kLastError,
    kWaitingFor,  // optional: a reply from before it existed has none
    // recipient members
    kAddress,
    kDelayReason,
    kFinished,
    kUnknown,
  };
  static constexpr unsigned kAllFields = (1u << 9) - 1;  // the required ones

  static Field message_field(std::string_view name) {
    static constexpr std::string_view kNames[] = {
        "queue_id", "arrival_time", "message_size", "sender",     "recipients",
        "status",   "attempts",     "next_attempt", "last_error", "waiting_for"};
    for (std::size_t i = 0; i < std::size(kNames); ++i) {
      if (kNames[i] == name) return static_cast<Field>(i + 1);
    }
    return Field::kUnknown;
  }
  static Field recipient_field(std::string_view name) {
    if (name == "address") return Field::kAddress;
    if (name == "delay_reason") return Field::kDelayReason;
    if (name == "finished") return Field::kFinished;
    return Field::kUnknown;
  }
  Recipient& recipient() { return out_.recipients[recipients_ - 1]; }
  bool mark() {
    if (field_ == Field::kAddress || field_ == Field::kDelayReason || field_ == Field::kFinished) {
      rcpt_seen_ |= field_ == Field::kAddress ? 1u : field_ == Field::kDelayReason ? 2u : 4u;
    } else {
      seen_ |= 1u << (static_cast<int>(field_) - 1);
    }
    field_ = Field::kNone;
    return true;
  }
  bool done_with_value() {
    if (skip_ == 0) field_ = Field::kNone;
    return true;
  }

  MessageInfo& out_;
  int depth_ = 0;
  int skip_ = 0;  // > 0: inside the container value of an unknown member
  Field field_ = Field::kNone;
  unsigned seen_ = 0;
  unsigned rcpt_seen_ = 0;
  bool in_recipients_ = false;
  std::size_t recipients_ = 0;
};

}  // namespace

bool parse_message(std::string_view line, MessageInfo& out) {
  MessageSax sax(out);
  return Json::sax_parse(line, &sax) && sax.complete();
}

std::optional<MessageInfo> parse_message(std::string_view line) {
  MessageInfo info;
  if (!parse_message(line, info)) return std::nullopt;
  return info;
}

std::string dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace sealpost::control
