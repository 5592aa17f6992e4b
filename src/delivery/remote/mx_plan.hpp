// The decision logic of remote delivery, free of sockets: which hosts to try for a domain (RFC
// 5321 §5.1 MX order, implicit MX, RFC 7505 null MX), what a DNS answer means for the TLS
// policy, and how an SMTP transaction's results become per-recipient delivery Outcomes.
#pragma once

#include <cstdint>
#include <expected>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/outcome.hpp"
#include "dns/resolver.hpp"
#include "smtp/client_session.hpp"
#include "tls/policy.hpp"

namespace sealpost::delivery::remote {

struct MxHost {
  std::string name;  // lower case, no trailing dot
  std::uint16_t preference = 0;
};

struct MxPlan {
  std::vector<MxHost> hosts;  // in the order to try
  bool implicit = false;      // no MX records: the domain itself is the host (RFC 5321 §5.1)
  tls::DnsStatus status = tls::DnsStatus::kInsecure;  // of the MX answer
};

// The outcome for every recipient when there is no host to try: NXDOMAIN and null MX bounce,
// lookup failures and bogus answers defer. `rng` (may be null: keep the answer's order)
// shuffles hosts of equal preference (RFC 5321 §5.1: spread the load).
std::expected<MxPlan, Outcome> plan_mx(std::string_view domain, const dns::Result& answer,
                                       std::mt19937* rng = nullptr);

tls::DnsStatus dns_status(const dns::Result& answer);

// Keeps the first `max_hosts` hosts of the plan, in order (0: no limit).
void cap_hosts(MxPlan& plan, std::size_t max_hosts);

struct AddressPlan {
  std::vector<std::string> addresses;  // IPv6 first, then IPv4 (numeric)
  // The weakest of the lookups that answered (a timed-out family adds nothing); kFailed
  // when neither answered.
  tls::DnsStatus status = tls::DnsStatus::kInsecure;
  std::string error;  // why there is no address to use
};

// Addresses of one host from its AAAA and A answers. A bogus answer poisons the host (no
// forged address is ever used); NXDOMAIN/NODATA on one family is fine if the other has data.
AddressPlan plan_addresses(std::string_view host, const dns::Result& aaaa, const dns::Result& a);

// One recipient's outcome from the transaction's result for it; session-level failures (no
// transaction result) go through session_outcome().
Outcome recipient_outcome(const smtp::RecipientResult& r, const smtp::TransactionResult& t);
// A session that ended before the server judged the message: 5xx from the server bounces,
// anything else (timeouts, closed connections, 4xx, TLS) defers.
Outcome session_outcome(const smtp::SessionFailure& failure);

// "451 4.7.5 text" style outcomes for our own decisions.
Outcome defer(std::string_view enhanced, std::string_view text);
Outcome bounce(int code, std::string_view enhanced, std::string_view text);
std::string outcome_text(const Outcome& outcome);  // "delivered" | the reply
// For attempt log lines: "delivered=N deferred=N bounced=N (first failure)".
std::string outcomes_summary(const std::vector<Outcome>& outcomes);

}  // namespace sealpost::delivery::remote
