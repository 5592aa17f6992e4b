// The SMTP client session as a sans-I/O state machine: server replies in, commands, message
// data and actions out. It owns no socket, no TLS library, no SASL code and no clock; the
// driver (`sealpost send`, later delivery::Remote) connects, performs the actions (StartTls,
// Close, Done) and reports handshakes, timeouts and a closed connection back.
// RFC 5321 (SMTP), 3207 (STARTTLS), 4954 (AUTH), 2920 (PIPELINING), 1870 (SIZE), 6152
// (8BITMIME), 6531 (SMTPUTF8), 3030 (CHUNKING), 2034/3463 (enhanced codes), 8689 (REQUIRETLS),
// 3461 (DSN parameters, relayed when the server offers DSN), 2033 (LMTP, ClientSettings::lmtp).
//
// REQUIRETLS here means only: the session is inside TLS and the server offers REQUIRETLS, so
// the parameter can be passed on. Whether that TLS was good enough for RFC 8689 §4.2.1 — the
// certificate verified (PKIX or DANE), the MX found by DNSSEC or MTA-STS — is the caller's
// business (delivery::Remote), which must not hand a require_tls message to a session over an
// unverified connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/capabilities.hpp"
#include "smtp/dsn.hpp"
#include "smtp/reply.hpp"
#include "smtp/reply_parser.hpp"

namespace sealpost::smtp {

enum class TlsMode {
  kImplicit,         // TLS from the first byte (RFC 8314 §3, port 465); no STARTTLS
  kRequireStartTls,  // STARTTLS must be offered and succeed, else fail: never plaintext
  kOpportunistic,    // STARTTLS when offered; plaintext if absent or refused with 4xx/5xx
  kNone,             // plaintext; STARTTLS is never sent
};

struct ClientSettings {
  std::string helo_name = "localhost";  // our FQDN or address literal (RFC 5321 §4.1.1.1)
  TlsMode tls = TlsMode::kImplicit;
  // EHLO refused with 500/502 (RFC 5321 §4.1.4): retry with HELO — never when TLS still has
  // to be negotiated or when credentials must be sent, both of which need EHLO.
  bool allow_helo_fallback = false;
  bool use_pipelining = true;  // RFC 2920, when offered
  bool use_chunking = false;   // BDAT instead of DATA when CHUNKING is offered (RFC 3030)
  std::size_t bdat_chunk_size = 1024 * 1024;
  // Credentials are never sent in the clear (RFC 8314 §3) unless this says so (tests only).
  bool allow_auth_without_tls = false;
  // RFC 2033 LMTP: LHLO instead of EHLO (no HELO fallback), DATA only (never BDAT), and after
  // the end of data one reply per accepted recipient, in RCPT order (§4.2), each deciding its
  // recipient. The caller picks TlsMode::kNone and no authenticator for a local socket.
  bool lmtp = false;
};

// The client half of one SASL exchange, implemented by the caller over src/sasl (smtp depends
// on nothing of ours). It speaks base64 text as it appears in the AUTH dialogue (RFC 4954 §4):
// the adapter encodes and decodes with sasl::base64_*, just as the server side hands base64
// text to its driver in AuthRequest. The session only frames it: "=" for an empty initial
// response, "*" to cancel, the 512-octet AUTH line limit.
class ClientAuthenticator {
 public:
  virtual ~ClientAuthenticator() = default;
  // Called once, after the last EHLO, with the server's AUTH list (upper-cased). Returns the
  // mechanism to use — one of `offered`, the caller's fixed choice or the strongest that both
  // sides support (sasl::choose_client_mechanism) — or nullopt if none is acceptable.
  virtual std::optional<std::string> choose(const std::vector<std::string>& offered) = 0;
  // Base64 of the initial response ("" if empty), or nullopt if the mechanism starts with a
  // server challenge.
  virtual std::optional<std::string> initial_response() = 0;
  // Answers a 334 challenge (base64 text as received). nullopt aborts the exchange.
  virtual std::optional<std::string> respond(std::string_view challenge) = 0;
  // Whether a 235 may be believed: for SCRAM only once the server signature was verified
  // (RFC 5802 §5); a 235 while !complete() is a failure.
  virtual bool complete() const = 0;
  // Why the mechanism gave up or is incomplete, for the failure detail.
  virtual std::string failure_detail() const { return {}; }
};

struct OutgoingMessage {
  std::string reverse_path;             // "" = null reverse-path <> (bounces)
  std::vector<std::string> recipients;  // forward-paths, without angle brackets
  // RFC 5322 message with CRLF line ends only (to_crlf() converts Unix text); a final CRLF is
  // added if missing. Sent unchanged: dot-stuffed for DATA, as is for BDAT.
  std::string content;
  bool smtputf8 = false;     // UTF-8 headers (RFC 6532); non-ASCII addresses imply it
  bool require_tls = false;  // RFC 8689 REQUIRETLS: the server must offer it, over TLS
  // RFC 3461 parameters, passed on only to a server that offers DSN (§4: otherwise they are
  // dropped, and the caller owes NOTIFY=SUCCESS recipients a "relayed" DSN).
  Ret ret = Ret::kUnspecified;
  std::string envid{};  // decoded; sent xtext-encoded
  // Empty, or one entry per recipient (NOTIFY, ORCPT), in the order of `recipients`.
  std::vector<RecipientDsn> recipient_dsn{};
};

enum class FailureReason {
  kNone,
  // Session failures (every transaction not yet finished shares them).
  kGreeting,               // greeting not 220 (554 "no service", 421 ...)
  kHeloRejected,           // EHLO (and, if allowed, HELO) refused
  kTlsRequiredNotOffered,  // TlsMode::kRequireStartTls and no STARTTLS in the EHLO reply
  kTlsFailed,              // STARTTLS refused (when required) or the handshake failed
  kAuthNotOffered,         // credentials given, server offers no AUTH we accept
  kAuthRequiresTls,        // credentials given, TLS not active
  kAuthFailed,             // AUTH refused, aborted, or "success" without mutual proof
  kProtocolError,          // malformed or unexpected reply, reply before its command
  kServerClosed,           // 421, or the connection closed before QUIT (caller-reported)
  kTimeout,                // caller-reported (timeout() says how long to wait)
  // Transaction failures.
  kSenderRejected,          // MAIL refused
  kAllRecipientsRejected,   // no RCPT accepted
  kDataRejected,            // DATA, a BDAT chunk or the end of data refused
  kSizeExceeded,            // over the announced SIZE (nothing sent), or a 552 to MAIL/data
  kSmtpUtf8Unsupported,     // non-ASCII address, server lacks SMTPUTF8 (RFC 6531 §3.2: bounce)
  kUtf8HeadersUnsupported,  // SMTPUTF8 message with UTF-8 header fields (RFC 6532), server
                            // lacks SMTPUTF8; an all-ASCII one goes without the parameter
  kEightBitUnsupported,     // 8-bit content, server does not offer 8BITMIME (RFC 6152)
  kRequireTlsUnsupported,   // REQUIRETLS asked, server lacks it or no TLS (RFC 8689 §4.2.1);
                            // nothing sent, reply "550 5.7.30 REQUIRETLS support required"
  kInvalidMessage,          // content not CRLF-clean, bad address syntax, no recipients
};

std::string_view failure_reason_name(FailureReason reason);
// The enhanced status code (RFC 3463) for a message this session refused to send, for the
// caller's bounce: 5.6.7 non-ASCII address, 5.6.9 UTF-8 header fields, 5.6.3 8-bit content,
// else 5.6.0.
std::string_view local_refusal_code(FailureReason reason);

// The delivery outcomes of DESIGN.md; kPending until the transaction is decided.
enum class Outcome { kPending, kDelivered, kTempFail, kPermFail };

struct RecipientResult {
  std::string forward_path;
  Outcome outcome = Outcome::kPending;
  // The reply that decided this recipient: its RCPT reply if refused there (or the MAIL reply
  // if MAIL was refused), else the transaction's reply — under LMTP its own reply after the
  // data. code 0: no server reply decided it (under LMTP: the session ended before its reply
  // came, so the message may or may not be in that mailbox; kTempFail, delivered at least once).
  Reply reply;
};

struct TransactionResult {
  // kDelivered: the server took responsibility for every recipient whose outcome says so.
  Outcome outcome = Outcome::kPending;
  FailureReason reason = FailureReason::kNone;
  Reply reply;         // final data reply if delivered, else the deciding reply (code 0: none)
  std::string detail;  // our explanation of `reason` (for logs and DSNs)
  std::vector<RecipientResult> recipients;
  // The server offered DSN, so RET/ENVID/NOTIFY/ORCPT went with MAIL and RCPT. When false,
  // DSN duties for this hop stay with us (RFC 3461 §4.2.3/§5.2.2: a "relayed" DSN for
  // NOTIFY=SUCCESS recipients).
  bool dsn_passed_on = false;
  // The server answered MAIL FROM with 2xx. On a kept connection a failure before that means
  // the connection had died while idle: nothing of this message reached the server.
  bool mail_accepted = false;
};

struct SessionFailure {
  FailureReason reason = FailureReason::kNone;
  Reply reply;  // the server reply behind it; code 0 if none
  std::string detail;
};

enum class ClientAction {
  kNone,      // write take_output(), then read and receive() replies
  kStartTls,  // write take_output(), then handshake; call on_tls_started / on_tls_failed
  kClose,     // the session failed (failure()): write take_output() (maybe QUIT), then close
  kDone,      // QUIT answered: close; results() are final
};

class ClientSession {
 public:
  // `authenticator` (may be null: no AUTH) must outlive the session. With one, AUTH is
  // mandatory: a server that cannot take the credentials fails the session, it is not skipped.
  explicit ClientSession(ClientSettings settings, ClientAuthenticator* authenticator = nullptr);

  // Queues a message; sent once the session is ready and earlier messages are done. Returns its
  // index in results(). Messages added after a failure fail at once. Added to an idle()
  // session, it starts the next transaction on the same connection (RFC 5321 §3.3).
  std::size_t add_message(OutgoingMessage message);
  // QUIT once every queued message is done (with none: right after EHLO/STARTTLS/AUTH).
  void quit();

  void receive(std::string_view bytes);  // server bytes; call while action() is kNone
  ClientAction action() const { return action_; }
  std::string take_output();
  std::vector<std::string> take_log();  // protocol events worth a log line

  void on_tls_started();  // handshake done: EHLO again, everything learnt before is forgotten
  void on_tls_failed();
  void on_timeout();  // the driver's timer for the awaited reply (timeout()) expired
  void on_closed();   // the server closed the connection (EOF)

  // RFC 5321 §4.5.3.2 wait for the reply now awaited (0 while nothing is awaited).
  std::chrono::seconds timeout() const;

  // Ready, every message added so far decided (and a refused transaction RSET), nothing
  // awaited, no QUIT asked for: the server waits for our next command. The driver stops here;
  // the caller may keep the connection for another add_message() (connection reuse) or quit().
  bool idle() const;

  const std::vector<TransactionResult>& results() const { return results_; }
  const SessionFailure& failure() const { return failure_; }
  const Capabilities& capabilities() const { return caps_; }
  bool tls_active() const { return tls_active_; }
  bool authenticated() const { return authenticated_; }
  const std::string& auth_mechanism() const { return auth_mechanism_; }

 private:
  // What each reply we wait for answers, in order (several while a group is pipelined).
  enum class Await {
    kGreeting,
    kEhlo,
    kHelo,
    kStartTls,
    kAuth,
    kMail,
    kRcpt,
    kData,     // DATA -> 354
    kDataEnd,  // the content's final reply (LMTP: one per accepted recipient, index)
    kBdat,
    kRset,
    kQuit,
  };
  struct Pending {
    Await what;
    std::size_t index = 0;  // kRcpt: recipient; kBdat: chunk
    bool last = false;      // kBdat: the LAST chunk
  };
  // The message in flight.
  struct Txn {
    std::size_t index = 0;  // into messages_ / results_
    std::string content;    // canonical CRLF content
    bool pipelined = false;
    bool bdat = false;
    std::optional<Reply> mail;
    std::vector<std::optional<Reply>> rcpt;
    std::size_t accepted = 0;
    std::size_t rcpt_replies = 0;
    std::optional<Reply> data_failure;  // first refused BDAT chunk; later replies only drain
    bool discard_end = false;           // "." sent after an unwanted 354 (RFC 2920 §3.1)
    std::size_t chunks_sent = 0;
    // LMTP (RFC 2033 §4.2): each accepted recipient's own reply after the data, by index.
    std::vector<std::optional<Reply>> lmtp_final;
    std::size_t lmtp_waiting = 0;  // accepted recipients whose reply is still to come
  };

  void process();
  void handle(const Reply& r);
  void handle_greeting(const Reply& r);
  void handle_ehlo(const Reply& r, bool extended);
  void handle_starttls(const Reply& r);
  void handle_auth(const Reply& r);
  void handle_mail(const Reply& r);
  void handle_rcpt(const Reply& r, std::size_t index);
  void handle_data(const Reply& r);
  void handle_data_end(const Reply& r, std::size_t index);
  void handle_lmtp_reply(const Reply& r, std::size_t index);
  void handle_bdat(const Reply& r, bool last);

  std::string rcpt_command(std::size_t index) const;  // for the transaction in flight
  void send_ehlo();
  void after_ehlo();
  void start_auth();
  void next_transaction();
  bool start_transaction(std::size_t index);  // false: failed locally, nothing sent
  void after_recipients();
  void send_data();
  void send_bdat_chunks();
  // Records the result and ends the transaction; true if the server may still hold it open.
  bool record_result(Outcome outcome, FailureReason reason, const Reply& reply, std::string detail);
  // record_result, then RSET if needed and on to the next message.
  void finish_transaction(Outcome outcome, FailureReason reason, const Reply& reply,
                          std::string detail);
  void fail_session(FailureReason reason, const Reply& reply, std::string detail, bool quit);
  void fail_pending_transactions();

  // At the start of a group (nothing awaited) the server must be silent: anything buffered then
  // was sent before the command it would answer. Fails the session and returns false if not.
  bool server_silent();
  // Queues a command line expecting one reply (server_silent() first).
  bool command(std::string_view line, Pending pending);
  void log(std::string line) { log_.push_back(std::move(line)); }

  ClientSettings settings_;
  ClientAuthenticator* authenticator_;
  ClientAction action_ = ClientAction::kNone;
  ReplyParser parser_;
  std::deque<Pending> awaiting_;
  std::string out_;
  std::vector<std::string> log_;

  bool tls_active_ = false;
  bool tls_declined_ = false;  // opportunistic STARTTLS refused: carry on in plaintext
  Capabilities caps_;
  bool authenticated_ = false;
  std::string auth_mechanism_;
  std::optional<std::string> deferred_initial_response_;  // too long for the AUTH line
  bool auth_cancelled_ = false;
  bool ready_ = false;  // greeting, EHLO, TLS and AUTH done: transactions may run
  bool quit_requested_ = false;
  bool quit_sent_ = false;

  std::vector<OutgoingMessage> messages_;
  std::vector<TransactionResult> results_;
  std::size_t next_message_ = 0;
  std::optional<Txn> txn_;
  SessionFailure failure_;
};

}  // namespace sealpost::smtp
