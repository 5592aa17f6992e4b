// Plain configuration structs for sealpostd and sealpost, parsed once from TOML (see
// config_loader.hpp) or built from the embedded dev default. No behaviour lives here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sealpost::config {

enum class TlsMode { kImplicit, kStartTls, kRequireStartTls, kNone };
enum class Role { kSubmission, kMx };

// A named certificate set. cert[i] pairs with key[i]: one ECDSA and one RSA pair side by side
// is the usual case. SNI names come from the certificates' subjectAltName dNSNames.
struct Pki {
  std::string name;
  std::vector<std::filesystem::path> certs;  // PEM, leaf first then chain
  std::vector<std::filesystem::path> keys;
};

struct Listener {
  std::string address;  // IP literal: "127.0.0.1", "::1", "::", "0.0.0.0"
  std::uint16_t port = 0;
  TlsMode tls = TlsMode::kStartTls;
  Role role = Role::kMx;
  std::vector<std::string> pki;  // names of Pki entries; the first is the default (no SNI)
  // Ask TLS clients for a certificate (never required) so SASL EXTERNAL can map it to a user.
  bool request_client_certificate = false;
};

// Where an LMTP server listens (RFC 2033): a unix socket, or a TCP address and port.
struct LmtpTarget {
  std::filesystem::path socket;  // "unix:PATH" (absolute once loaded)
  std::string address;           // or a numeric IP ...
  std::uint16_t port = 0;        // ... and its port
  bool empty() const { return socket.empty() && address.empty(); }
  // As written in the config: "unix:/run/dovecot/lmtp", "127.0.0.1:24", "[::1]:24".
  std::string text() const {
    if (!socket.empty()) return "unix:" + socket.string();
    bool v6 = address.find(':') != std::string::npos;
    return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
  }
};

struct Mailbox {
  std::string address;            // local@domain, as configured
  std::filesystem::path maildir;  // default: <state_dir>/mail/<address>
  LmtpTarget lmtp{};              // set: delivered over LMTP there instead ([delivery] lmtp)
};

// Local delivery: Maildir unless an LMTP server takes the mail (Postfix's mailbox_transport).
struct Delivery {
  LmtpTarget lmtp;  // empty: every mailbox is a Maildir (unless its [[mailbox]] lmtp says)
  std::chrono::seconds lmtp_timeout{300};  // one LMTP attempt, connect to QUIT
};

struct Limits {
  std::size_t max_message_size = 50 * 1024 * 1024;  // octets, advertised in SIZE
  std::size_t max_recipients = 100;
  std::size_t max_bad_commands = 20;           // unknown/invalid commands before 421
  std::chrono::seconds idle_timeout{300};      // RFC 5321 4.5.3.2.7: at least 5 minutes
  std::chrono::seconds session_timeout{3600};  // total session time
  std::chrono::seconds tls_handshake_timeout{10};
  std::size_t max_connections = 4096;       // open sessions, all listeners together
  std::size_t max_connections_per_ip = 64;  // open sessions from one client address
};

// Credentials for SMTP AUTH (src/auth reads the file; `sealpost user` writes it).
struct Accounts {
  std::filesystem::path file;  // empty: AUTH is not offered
  // PBKDF2 rounds for SCRAM-SHA-256 secrets of passwords set from now on (RFC 7677 4: at least
  // 4096). Clients pay it on each SCRAM login; a thief of the file pays it per guess.
  unsigned scram_iterations = 100000;
  bool expose_user = false;  // name the user in Received / Authentication-Results
  // A verified password is remembered (as a keyed MAC, auth/verified_cache.hpp) this long, so
  // a client that logs in per message pays the password hash once per TTL. 0 disables.
  std::chrono::seconds auth_cache_ttl{300};
};

// Failed-authentication throttling (src/auth/throttle.hpp).
struct AuthThrottle {
  unsigned delay_after = 3;     // failures from one address before replies are delayed
  unsigned lockout_after = 10;  // failures from one address before it is refused (454)
  std::chrono::seconds lockout{900};
  std::chrono::seconds max_delay{8};
  std::chrono::seconds window{3600};  // failures are forgotten after this long without one
};

// The resolver sealpostd uses for remote delivery (src/dns): DNSSEC-validating libunbound.
struct Dns {
  // "IP[@PORT]" upstreams; empty: full recursion from the root (or resolv.conf, below).
  std::vector<std::string> forwarders;
  // DNSSEC trust anchor files (DS/DNSKEY lines or unbound-anchor's root.key); empty: the root
  // anchor from dns-root-data / unbound-anchor.
  std::vector<std::filesystem::path> trust_anchors;
  bool use_resolv_conf = false;  // forward to /etc/resolv.conf's servers instead of recursing
};

// Remote delivery (src/delivery/remote) and its TLS policy (src/tls/policy, RFC 7672/8461).
struct DomainTlsPolicy {
  std::string domain;               // lower case; exact match
  std::vector<std::string> policy;  // chain of dane | mta-sts | verify | encrypt | may | none
};

struct Outbound {
  std::string helo_name;  // EHLO name; empty: hostname
  std::vector<std::string> tls_policy = {"dane", "mta-sts", "may"};
  std::vector<DomainTlsPolicy> domains;      // per-destination overrides of tls_policy
  std::uint16_t mx_port = 25;                // tests point delivery at MX hosts on another port
  std::filesystem::path ca_file;             // PKIX trust anchors; empty: the system store
  std::chrono::seconds timeout{300};         // one delivery attempt, greeting to QUIT
  std::chrono::seconds connect_timeout{30};  // the TCP connect alone, within timeout
  // Per delivery run (like Postfix's smtp_mx_session_limit / smtp_mx_address_limit): a domain
  // with many dead hosts cannot hold a delivery worker for hours.
  std::size_t max_mx_hosts = 5;
  std::size_t max_addresses_per_host = 5;
  std::uint16_t mta_sts_port = 443;  // HTTPS port of mta-sts.<domain>; only tests change it
  // Connection reuse, as Postfix's smtp_connection_cache_time_limit and friends: an idle
  // connection waits this long for the next message to the same MX address (or smarthost)
  // under the same TLS requirement; 0 turns reuse off.
  std::chrono::seconds connection_cache_time_limit{2};
  std::chrono::seconds connection_reuse_time_limit{300};  // no new transaction after this age
  std::size_t connection_reuse_count_limit = 100;         // transactions per connection
  std::size_t connection_cache_size = 100;                // idle connections kept in all
};

// A smarthost: every non-local recipient goes there instead of to its MX hosts (RFC 8314
// §3.3: implicit TLS, the server verified by PKIX and host name, AUTH).
struct Relay {
  std::string host;  // empty: no smarthost; the name the certificate must carry
  std::uint16_t port = 465;
  bool starttls = false;  // false: implicit TLS (RFC 8314); true: STARTTLS, still required
  std::string user;       // empty: no AUTH
  std::filesystem::path password_file;  // one line; must not be readable by others
};

// Retry schedule of the queue (src/delivery/scheduler).
struct QueueTiming {
  std::chrono::seconds first_retry{60};
  std::chrono::seconds max_retry{3600};
  std::chrono::seconds lifetime{5 * 24 * 3600};  // then the message bounces
  // A message still deferred this long after arrival gets one delay DSN (RFC 3461 §4.1) for
  // its recipients with NOTIFY=DELAY or no NOTIFY; 0: never. 4 hours, as sendmail's
  // Timeout.queuewarn: an explicit NOTIFY=DELAY is honoured out of the box (Postfix's
  // delay_warning_time defaults to off, which ignores it).
  std::chrono::seconds delay_warning{4 * 3600};
  unsigned workers = 16;  // delivery threads; remote attempts block one for up to timeout
  // Attempts at once per destination (a remote domain, or the smarthost); a message over the
  // limit waits queued for a slot while workers take other mail. 0: no limit. 20 as Postfix's
  // default_destination_concurrency_limit.
  unsigned destination_concurrency = 20;
  // Accept durably, then drop instead of delivering (logged per message): the route the
  // benchmarks compare with Postfix's discard transport. Never for real mail.
  bool discard = false;
};

struct Config {
  std::filesystem::path source;  // file it was read from; empty for the embedded default
  std::string hostname = "localhost";
  std::filesystem::path state_dir = "sealpost-state";
  unsigned threads = 0;  // event loops; 0 = one per core
  std::string log_level = "info";
  std::vector<Pki> pki;
  std::vector<Listener> listeners;
  std::vector<std::string> local_domains;
  std::vector<Mailbox> mailboxes;
  std::string postmaster;  // mailbox that receives postmaster@<local domain>; default: first
  Limits limits;
  Accounts accounts;
  AuthThrottle auth;
  Dns dns;
  Outbound outbound;
  Relay relay;
  QueueTiming queue;
  Delivery delivery;

  // Derived paths under state_dir.
  std::filesystem::path spool_dir() const { return state_dir / "spool"; }
  std::filesystem::path control_socket() const { return state_dir / "control.sock"; }
};

}  // namespace sealpost::config
