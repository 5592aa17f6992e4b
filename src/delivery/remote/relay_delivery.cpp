// RelayDelivery::deliver: the smarthost's addresses (getaddrinfo), then attempt() per address
// with the `verify` requirement, implicit TLS or required STARTTLS and the SASL credentials,
// until one gets the message judged; the last failure is what every recipient gets.
// getaddrinfo rather than the DNSSEC resolver of MX delivery: the smarthost is a name the
// administrator chose, often in /etc/hosts or a site zone the resolver does not see, and its
// certificate (PKIX + host name), not DNS, is what authenticates it.
#include "delivery/remote/relay_delivery.hpp"

#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>

#include "delivery/remote/mx_plan.hpp"
#include "net/client_authenticator.hpp"
#include "tls/client_verify.hpp"
#include "tls/policy.hpp"

namespace sealpost::delivery::remote {

namespace {

struct AddrInfoFree {
  void operator()(addrinfo* list) const { ::freeaddrinfo(list); }
};

// The host's addresses, numeric, in getaddrinfo's order (RFC 6724), without repeats.
std::expected<std::vector<std::string>, Outcome> resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    // Even "no such host" defers: the smarthost is our configuration, not the recipients'.
    std::string why = "cannot resolve smarthost " + host + ": " + ::gai_strerror(rc);
    return std::unexpected(defer(rc == EAI_AGAIN ? "4.4.3" : "4.4.4", why));
  }
  std::unique_ptr<addrinfo, AddrInfoFree> owner(list);
  std::vector<std::string> out;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    char numeric[NI_MAXHOST] = {};
    if (::getnameinfo(ai->ai_addr, ai->ai_addrlen, numeric, sizeof numeric, nullptr, 0,
                      NI_NUMERICHOST) != 0)
      continue;
    if (std::find(out.begin(), out.end(), numeric) == out.end()) out.emplace_back(numeric);
  }
  if (out.empty()) return std::unexpected(defer("4.4.4", "smarthost " + host + " has no address"));
  return out;
}

bool auth_failure(smtp::FailureReason reason) {
  using smtp::FailureReason;
  return reason == FailureReason::kAuthFailed || reason == FailureReason::kAuthNotOffered ||
         reason == FailureReason::kAuthRequiresTls;
}

// "none" without credentials; else USER/MECHANISM, USER/failed, or USER/- when AUTH was not
// reached (no connection, TLS refused: credentials never go before TLS).
std::string auth_field(const RelayOptions& o, const AttemptResult* r) {
  if (o.user.empty()) return "none";
  if (r && !r->auth_mechanism.empty()) return o.user + "/" + r->auth_mechanism;
  if (r && auth_failure(r->session_failure.reason)) return o.user + "/failed";
  return o.user + "/-";
}

}  // namespace

std::vector<Outcome> relay_outcomes(const AttemptResult& r, std::size_t recipients,
                                    std::string_view relay) {
  if (r.recipients) {
    std::vector<Outcome> out = *r.recipients;
    out.resize(recipients, defer("4.3.0", "internal: no outcome for this recipient"));
    for (Outcome& o : out) {  // Remote-MTA of a "relayed" DSN (RFC 3464 §2.3.5)
      if (auto* delivered = std::get_if<Delivered>(&o)) delivered->remote_mta = std::string(relay);
    }
    return out;
  }
  const smtp::SessionFailure& f = r.session_failure;
  Outcome all = r.failure;
  if (auth_failure(f.reason)) {
    // RFC 4954 §6: 535 is the server's word on our credentials; retrying after the
    // administrator fixed them is the right outcome, a bounce is not.
    std::string why = "authentication at smarthost " + std::string(relay) + " failed";
    if (!f.detail.empty()) why += ": " + f.detail;
    if (f.reply.code != 0) why += " (server said \"" + f.reply.summary() + "\")";
    all = defer("4.7.0", why + "; nothing was sent");
  } else if (std::holds_alternative<PermFail>(all)) {
    all = defer("4.4.2",
                "smarthost " + std::string(relay) + " refused the session: " + outcome_text(all));
  }
  return std::vector<Outcome>(recipients, all);
}

RelayDelivery::RelayDelivery(RelayOptions options, tls::SslCtxPtr ctx)
    : options_(std::move(options)), ctx_(std::move(ctx)), connections_(options_.connection_cache) {}
RelayDelivery::~RelayDelivery() = default;

std::expected<std::unique_ptr<RelayDelivery>, std::string> RelayDelivery::create(
    RelayOptions options) {
  // Not enforcing: the handshake completes and tls::evaluate() judges the peer, so the log
  // says why a smarthost failed verification (wrong name, unknown CA) before we hang up.
  auto ctx = tls::make_client_context({options.ca_file, /*enforce=*/false});
  if (!ctx) return std::unexpected(ctx.error());
  return std::unique_ptr<RelayDelivery>(new RelayDelivery(std::move(options), std::move(*ctx)));
}

std::vector<Outcome> RelayDelivery::deliver(const smtp::OutgoingMessage& message) {
  const RelayOptions& o = options_;
  auto emit = [&o](const std::string& line) {
    if (o.log) {
      o.log(line);
    } else {
      spdlog::info("{}", line);
    }
  };
  auto addresses = resolve(o.host, o.port);
  if (!addresses) {
    emit(log_line("-", nullptr, outcome_text(addresses.error())));
    return std::vector<Outcome>(message.recipients.size(), addresses.error());
  }
  if (o.max_addresses != 0 && addresses->size() > o.max_addresses)
    addresses->resize(o.max_addresses);
  // RFC 8314 §3.3 / issue 6: `verify` — TLS required, PKIX with the configured name.
  tls::PolicyInput in;
  in.chain = {tls::PolicyKind::kVerify};
  in.domain = o.host;
  in.mx_host = o.host;
  const tls::Requirement req = tls::decide(in);
  std::vector<Outcome> last;
  for (const std::string& address : *addresses) {
    // A fresh authenticator per connection: a SCRAM exchange is single-use.
    net::SaslClientAuthenticator auth(o.user, o.password);
    AttemptSettings settings;
    settings.helo_name = o.helo_name;
    settings.ssl_ctx = ctx_.get();
    settings.deadline = o.attempt_deadline;
    settings.connect_timeout = o.connect_timeout;
    settings.implicit_tls = !o.starttls;
    settings.authenticator = o.user.empty() ? nullptr : &auth;
    settings.on_tls = [&auth](SSL* ssl) { auth.set_tls_exporter(net::tls_exporter(ssl)); };
    settings.cache = &connections_;
    settings.auth_identity = o.user;
    AttemptResult r = attempt(AttemptTarget{o.host, address, o.port}, req, message, settings);
    last = relay_outcomes(r, message.recipients.size(), o.host);
    if (r.recipients) {
      emit(log_line(address, &r, outcomes_summary(last)));
      return last;
    }
    emit(log_line(address, &r, last.empty() ? outcome_text(r.failure) : outcome_text(last[0])));
    // The smarthost's word on our credentials: its other addresses would say the same.
    if (auth_failure(r.session_failure.reason)) break;
  }
  return last;
}

std::string RelayDelivery::log_line(const std::string& address, const AttemptResult* r,
                                    const std::string& result) const {
  const RelayOptions& o = options_;
  std::string line =
      "relay delivery: relay=" + o.host + ":" + std::to_string(o.port) + " address=" + address +
      " tls=" + (r && !r->tls_version.empty() ? r->tls_version : "none") +
      " cipher=" + (r && !r->cipher.empty() ? r->cipher : "-") +
      " verified=" + (r ? r->verified : "none") + " auth=" + auth_field(o, r) + " result=" + result;
  if (r && !r->reason.empty() && result.find(r->reason) == std::string::npos)
    line += " reason=\"" + r->reason + "\"";
  if (r && r->reused) line += " conn=reused";
  return line;
}

}  // namespace sealpost::delivery::remote
