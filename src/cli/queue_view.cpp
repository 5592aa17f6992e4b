// Queue listings and `show` output, from the daemon's replies or from the spool files. Each
// message is formatted into one string and written at once; nothing is collected first, so a
// listing of 100,000 messages starts printing at once and uses little memory.
#include "cli/queue_view.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "queue/spool_scan.hpp"
#include "sasl/base64.hpp"

namespace sealpost::cli {
namespace {

constexpr int kExitNoUser = 67;  // sysexits.h EX_NOUSER: no such queue id
constexpr int kExitNoPerm = 77;  // sysexits.h EX_NOPERM

std::string utc(std::int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The state line under the sender, when there is more to say than the status word.
void append_progress(std::string& text, const control::MessageInfo& m, const char* indent) {
  if (m.attempts != 0 || m.next_attempt) {
    text += indent;
    text += "attempts: " + std::to_string(m.attempts);
    if (m.next_attempt) text += ", next attempt: " + utc(*m.next_attempt);
    text += '\n';
  }
  if (m.waiting_for) {
    text += indent;
    text += "waiting for a delivery slot to " + *m.waiting_for + '\n';
  }
}

// A string member of `json`, or "" (absent, null or not a string).
std::string member(const control::Json& json, const char* key) {
  if (!json.is_object()) return {};
  const auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
}

bool flag(const control::Json& json, const char* key) {
  if (!json.is_object()) return false;
  const auto it = json.find(key);
  return it != json.end() && it->is_boolean() && it->get<bool>();
}

// "SMTPUTF8 BODY=8BITMIME REQUIRETLS RET=HDRS ENVID=x": the MAIL parameters, as given.
std::string mail_parameters(const control::Json& envelope) {
  std::string out;
  const auto add = [&out](const std::string& word) {
    if (!out.empty()) out += ' ';
    out += word;
  };
  if (flag(envelope, "smtputf8")) add("SMTPUTF8");
  if (const std::string body = member(envelope, "body"); !body.empty()) add("BODY=" + body);
  if (flag(envelope, "requiretls")) add("REQUIRETLS");
  if (const std::string ret = member(envelope, "ret"); !ret.empty()) add("RET=" + ret);
  if (const std::string envid = member(envelope, "envid"); !envid.empty()) add("ENVID=" + envid);
  return out;
}

// "  NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@example.org", or "".
std::string rcpt_parameters(const control::Json& recipient) {
  std::string out;
  if (const std::string notify = member(recipient, "notify"); !notify.empty())
    out += "  NOTIFY=" + notify;
  if (const std::string orcpt = member(recipient, "orcpt"); !orcpt.empty())
    out += (out.empty() ? "  ORCPT=" : " ORCPT=") + orcpt;
  return out;
}

// The spool is private to sealpostd's user: say so instead of listing an empty queue.
bool spool_readable(const config::Config& config, std::ostream& err) {
  const auto log = config.spool_dir() / "log";
  if (::access(log.c_str(), R_OK | X_OK) == 0 || errno == ENOENT) return true;
  err << "sealpost: " << log.string() << ": " << std::strerror(errno) << "\n";
  return false;
}

}  // namespace

void ListingPrinter::add(const control::MessageInfo& m) {
  if (json_) {
    control::assign_json(m, json_tree_);
    out_ << control::dump(json_tree_) << '\n';
  } else {
    std::string& text = text_;
    text.clear();
    text += m.queue_id;
    text += "  ";
    text += utc(m.arrival_time);
    text += "  ";
    text += std::to_string(m.message_size);
    text += "  ";
    text += control::status_name(m.status);
    text += "  <";
    text += m.sender;
    text += ">\n";
    append_progress(text, m, "    ");
    for (const auto& r : m.recipients) {
      text += "    <";
      text += r.address;
      text += '>';
      if (r.finished) text += "  finished";
      if (r.delay_reason) {
        text += "  ";
        text += *r.delay_reason;
      }
      text += '\n';
    }
    out_ << text;
  }
  ++count_;
  bytes_ += m.message_size;
}

bool ListingPrinter::add(std::string_view line) {
  if (!json_) {
    if (!control::parse_message(line, scratch_)) return false;
    add(scratch_);
    return true;
  }
  out_ << line << '\n';
  ++count_;
  return true;
}

void ListingPrinter::finish() {
  if (json_) return;
  if (count_ == 0) {
    out_ << "Mail queue is empty\n";
  } else {
    out_ << "-- " << count_ << (count_ == 1 ? " message, " : " messages, ") << bytes_ << " bytes\n";
  }
}

void print_message(std::ostream& out, const control::MessageInfo& m, const control::Json& envelope,
                   std::string_view content, bool json) {
  if (json) {
    control::Json object = control::to_json(m);
    object["envelope"] = envelope;
    object["content_base64"] = sasl::base64_encode(content);
    out << control::dump(object) << '\n';
    return;
  }
  std::string text =
      "queue id: " + m.queue_id + "\nstatus: " + std::string(control::status_name(m.status)) +
      "\narrival: " + utc(m.arrival_time) + "\nsize: " + std::to_string(m.message_size) + "\n";
  append_progress(text, m, "");
  if (m.last_error) text += "last error: " + *m.last_error + "\n";
  const control::Json none;
  const auto found = envelope.is_object() ? envelope.find("recipients") : envelope.end();
  const control::Json& dsn = envelope.is_object() && found != envelope.end() ? *found : none;
  const std::string mail = mail_parameters(envelope);
  text += "from: <" + m.sender + ">" + (mail.empty() ? "" : "  " + mail) + "\n";
  for (std::size_t i = 0; i < m.recipients.size(); ++i) {
    const auto& r = m.recipients[i];
    text += "to: <" + r.address + ">";
    if (dsn.is_array() && i < dsn.size()) text += rcpt_parameters(dsn[i]);
    if (r.finished) text += "  finished";
    if (r.delay_reason) text += "  " + *r.delay_reason;
    text += '\n';
  }
  out << text << '\n' << content;
}

int list_spool(const config::Config& config, bool json, std::ostream& out, std::ostream& err) {
  if (!spool_readable(config, err)) return kExitNoPerm;
  queue::ScanOptions options;
  options.envelopes = true;
  options.log_problems = false;  // a torn tail is normal for a log that was being written
  const auto scan = queue::scan_spool(config.spool_dir(), options);
  ListingPrinter printer(out, json);
  control::MessageInfo info;
  for (const auto& m : scan.live) {
    control::describe(m.key.id(), m.envelope, m.size, m.held, nullptr, m.finished, info);
    printer.add(info);
  }
  printer.finish();
  return 0;
}

int show_spool(const config::Config& config, const std::string& id, bool json, std::ostream& out,
               std::ostream& err) {
  if (!spool_readable(config, err)) return kExitNoPerm;
  queue::ScanOptions options;
  options.log_problems = false;
  const auto scan = queue::scan_spool(config.spool_dir(), options);
  const auto key = queue::MessageKey::from_id(id);
  for (const auto& m : scan.live) {
    if (m.key != key) continue;
    const auto message = queue::read_message(config.spool_dir(), id, m.location);
    if (!message) break;
    print_message(out,
                  control::describe(id, message->envelope, message->content.size(), m.held, nullptr,
                                    m.finished),
                  control::envelope_json(message->envelope), message->content, json);
    return 0;
  }
  err << "sealpost: " << id << ": not in the queue\n";
  return kExitNoUser;
}

}  // namespace sealpost::cli
