// The SMTP server session as a sans-I/O state machine: bytes in, replies and actions out.
// It owns no socket, no file, no TLS library and no clock; the driver in src/net feeds it
// bytes, performs its actions (StartTls, Enqueue, Close) and reports their results back.
// RFC 5321 (SMTP), 2920 (PIPELINING), 1870 (SIZE), 6152 (8BITMIME), 3030 (CHUNKING),
// 2034/3463 (enhanced codes), 6531 (SMTPUTF8), 3207 (STARTTLS), 4954 (AUTH; the SASL
// mechanisms run in the driver), 3461 (DSN parameters), 8689 (REQUIRETLS, inside TLS only).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/address.hpp"
#include "smtp/command.hpp"
#include "smtp/data_reader.hpp"
#include "smtp/dsn.hpp"
#include "smtp/reply.hpp"

namespace sealpost::smtp {

struct SessionSettings {
  std::string hostname = "localhost";
  std::size_t max_message_size = 50 * 1024 * 1024;
  std::size_t max_recipients = 100;
  std::size_t max_bad_commands = 20;
  bool starttls_offered = false;  // a STARTTLS listener with certificates
  bool tls_required = false;      // require-starttls: no mail transaction before TLS
  // SASL mechanisms offered once TLS is active (RFC 4954; never before TLS, RFC 8314 §3);
  // empty: no AUTH on this listener (role mx).
  std::vector<std::string> auth_mechanisms;
  bool auth_required = false;  // role submission: MAIL only after AUTH (RFC 6409 §4.3)
};

struct TlsFacts {
  bool active = false;
  std::string version;  // "TLSv1.3"
  std::string cipher;   // "TLS_AES_256_GCM_SHA384"
  int bits = 0;
  std::string server_name;  // SNI
};

// Decides MAIL and RCPT from in-memory data (no I/O: the session must never block).
// `user` is the authenticated user, empty if none.
class SessionPolicy {
 public:
  virtual ~SessionPolicy() = default;
  // A positive reply accepts; anything else is sent as the MAIL reply. null_path: MAIL FROM:<>.
  virtual Reply check_sender(const Mailbox& sender, bool null_path, const std::string& user) const {
    (void)sender, (void)null_path, (void)user;
    return make_reply(250, "2.1.0", "Ok");
  }
  // A positive reply accepts the recipient; anything else is sent as the RCPT reply.
  virtual Reply check_recipient(const Mailbox& recipient, const std::string& user) const = 0;
};

// One step of a SASL exchange for the driver to run (it owns the mechanism and credentials).
struct AuthRequest {
  std::string mechanism;                // upper-cased name from the AUTH command
  bool initial = true;                  // first step: start a new exchange
  std::optional<std::string> response;  // base64 text as sent; nullopt = no initial response,
                                        // "" = empty ("=" as initial response, RFC 4954 §4)
};

struct AuthResult {
  enum class Kind {
    kChallenge,         // send 334 + challenge, read the next response
    kSuccess,           // 235 2.7.0
    kBadCredentials,    // 535 5.7.8
    kMalformed,         // 501 5.5.2 (bad base64 or SASL syntax)
    kTemporaryFailure,  // 454 4.7.0 (throttled, credential store unavailable)
    kTooWeak,           // 534 5.7.9
    kEncryptionNeeded,  // 538 5.7.11
  };
  Kind kind = Kind::kBadCredentials;
  std::string challenge;  // base64, for kChallenge
  std::string user;       // for kSuccess
};

// A complete, checked message ready to be made durable.
struct Transaction {
  std::string reverse_path;  // empty = null reverse-path
  std::vector<std::string> recipients;
  bool smtputf8 = false;
  bool body_8bit = false;
  Ret ret = Ret::kUnspecified;  // RFC 3461 §4.3 RET
  std::string envid;            // RFC 3461 §4.4 ENVID, decoded; empty = none
  bool requiretls = false;      // RFC 8689 REQUIRETLS on MAIL (only accepted inside TLS)
  // Empty when no RCPT had NOTIFY or ORCPT; else one entry per recipient, in order.
  std::vector<RecipientDsn> recipient_dsn;
  std::string body;  // content as received, CRLF line ends, dot-stuffing removed
  // Trace facts for the Received header.
  std::string helo;
  bool esmtp = false;
  std::string peer_address;
  TlsFacts tls;
  std::string auth_user;  // authenticated user, empty if none
};

enum class Action {
  kNone,          // waiting for input: call receive()
  kStartTls,      // write pending output, then handshake; report on_tls_started / on_tls_failed
  kEnqueue,       // take_transaction(), make it durable, report on_enqueued / on_enqueue_failed
  kAuthenticate,  // take_auth_request(), run the SASL step, report on_auth_result
  kClose,         // write pending output, then close the connection
};

class ServerSession {
 public:
  ServerSession(SessionSettings settings, const SessionPolicy& policy, std::string peer_address,
                TlsFacts tls = {});

  void greet();                          // queues the 220 greeting
  void receive(std::string_view bytes);  // call only while action() == kNone

  Action action() const { return action_; }
  std::string take_output();            // reply bytes to send, in order
  std::vector<std::string> take_log();  // protocol events worth a log line
  Transaction take_transaction();       // valid once, when action() == kEnqueue
  AuthRequest take_auth_request();      // valid once, when action() == kAuthenticate
  const std::string& auth_user() const { return auth_user_; }
  bool tls_active() const { return tls_.active; }
  bool in_transaction() const { return in_transaction_; }
  // Input buffered but not yet processed (a flood guard for the driver).
  std::size_t buffered() const { return in_.size() - in_pos_; }

  // The driver narrows the listener's mechanisms once TLS tells what is possible (-PLUS needs
  // TLS 1.3, EXTERNAL a client certificate). Call before on_tls_started().
  void set_auth_mechanisms(std::vector<std::string> mechanisms) {
    settings_.auth_mechanisms = std::move(mechanisms);
  }
  void on_tls_started(TlsFacts tls);
  void on_tls_failed();
  void on_enqueued(std::string_view queue_id);
  void on_enqueue_failed(const Reply& reply);
  void on_auth_result(const AuthResult& result);
  void on_idle_timeout();
  void on_session_expired();
  void on_shutdown();

 private:
  enum class State { kCommand, kAuthResponse, kDrainLine, kData, kBdat };

  void process();
  bool next_line();
  void handle_line(std::string_view line);
  void handle_ehlo(std::string_view arg, bool extended);
  void handle_mail(std::string_view arg);
  void handle_rcpt(std::string_view arg);
  // MAIL/RCPT parameters: false after the error reply was sent.
  bool take_mail_param(const EsmtpParam& p, Transaction& t);
  bool take_rcpt_params(std::string_view text, RecipientDsn& dsn);
  bool reject_param(std::string_view verb, std::string_view why);
  void handle_data(std::string_view arg);
  void handle_bdat(std::string_view arg);
  void handle_starttls(std::string_view arg);
  void handle_auth(std::string_view arg);
  void handle_auth_response(std::string_view line);
  void read_data();
  void read_bdat();
  void finish_bdat_chunk();
  void finish_content(ContentChecker& checker);

  void reply(int code, std::string_view enhanced, std::string_view text);
  void send(const Reply& r);
  void error_reply(int code, std::string_view enhanced, std::string_view text);
  void close_with(int code, std::string_view enhanced, std::string_view text);
  void reset_transaction();
  void log(std::string line) { log_.push_back(std::move(line)); }

  SessionSettings settings_;
  const SessionPolicy& policy_;
  std::string peer_address_;
  TlsFacts tls_;

  State state_ = State::kCommand;
  Action action_ = Action::kNone;
  std::string in_;
  std::size_t in_pos_ = 0;
  std::size_t scan_pos_ = 0;  // CRLF search resumes here: byte-at-a-time input stays linear
  std::string out_;
  std::vector<std::string> log_;

  std::string helo_;
  bool esmtp_ = false;
  std::size_t bad_commands_ = 0;
  bool drain_prev_cr_ = false;
  bool drain_auth_ = false;  // the line being drained is a SASL response (kAuthResponse)
  bool shutdown_pending_ = false;
  std::string auth_user_;
  AuthRequest auth_request_;
  std::string mechanism_in_progress_;

  // The mail transaction (RFC 5321 §3.3).
  bool in_transaction_ = false;
  Transaction txn_;
  std::unique_ptr<ContentChecker> checker_;
  std::unique_ptr<DotReader> dot_reader_;
  std::size_t bdat_remaining_ = 0;
  bool bdat_last_ = false;
  bool bdat_active_ = false;         // at least one BDAT chunk accepted in this transaction
  std::optional<Reply> bdat_error_;  // the chunk being read is rejected with this reply
  bool bdat_aborted_ = false;        // a chunk failed: discard the rest until RSET/MAIL
};

}  // namespace sealpost::smtp
