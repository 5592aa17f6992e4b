#include "daemon/router.hpp"

#include <algorithm>
#include <map>
#include <string>

#include "delivery/lmtp.hpp"
#include "delivery/maildir.hpp"
#include "delivery/outgoing.hpp"
#include "delivery/remote/password_file.hpp"
#include "smtp/message_text.hpp"
#include "tls/policy.hpp"

namespace sealpost::daemon {

namespace {

delivery::remote::ConnectionCacheLimits reuse_limits(const config::Outbound& outbound) {
  return {.idle_time = outbound.connection_cache_time_limit,
          .max_age = outbound.connection_reuse_time_limit,
          .max_transactions = outbound.connection_reuse_count_limit,
          .max_idle = outbound.connection_cache_size};
}

std::expected<std::vector<tls::PolicyKind>, std::string> chain_of(
    const std::vector<std::string>& names) {
  std::vector<tls::PolicyKind> chain;
  for (const auto& name : names) {
    auto kind = tls::policy_from_name(name);
    if (!kind) return std::unexpected("unknown TLS policy \"" + name + "\"");
    chain.push_back(*kind);
  }
  return chain;
}

}  // namespace

std::expected<delivery::remote::RemoteOptions, std::string> remote_options(
    const config::Config& config) {
  delivery::remote::RemoteOptions o;
  o.helo_name = config.outbound.helo_name.empty() ? config.hostname : config.outbound.helo_name;
  o.resolver.forwarders = config.dns.forwarders;
  o.resolver.use_resolv_conf = config.dns.use_resolv_conf;
  for (const auto& file : config.dns.trust_anchors)
    o.resolver.trust_anchor_files.push_back(file.string());
  o.mx_port = config.outbound.mx_port;
  o.ca_file = config.outbound.ca_file.string();
  o.attempt_deadline = config.outbound.timeout;
  o.connect_timeout = config.outbound.connect_timeout;
  o.max_mx_hosts = config.outbound.max_mx_hosts;
  o.max_addresses_per_host = config.outbound.max_addresses_per_host;
  o.mta_sts_port = config.outbound.mta_sts_port;
  o.mta_sts_cache_dir = (config.state_dir / "mta-sts").string();
  o.connection_cache = reuse_limits(config.outbound);
  auto chain = chain_of(config.outbound.tls_policy);
  if (!chain) return std::unexpected("outbound.tls_policy: " + chain.error());
  o.policy_chain = *chain;
  for (const auto& d : config.outbound.domains) {
    auto domain_chain = chain_of(d.policy);
    if (!domain_chain)
      return std::unexpected("outbound.domain " + d.domain + ": " + domain_chain.error());
    o.domain_policies[d.domain] = *domain_chain;
  }
  return o;
}

std::expected<delivery::remote::RelayOptions, std::string> relay_options(
    const config::Config& config) {
  const config::Relay& relay = config.relay;
  delivery::remote::RelayOptions o;
  o.host = relay.host;
  o.port = relay.port;
  o.starttls = relay.starttls;
  o.user = relay.user;
  if (!relay.user.empty()) {
    auto password = delivery::remote::read_password_file(relay.password_file);
    if (!password) return std::unexpected("relay.password_file: " + password.error());
    o.password = std::move(*password);
  }
  o.helo_name = config.outbound.helo_name.empty() ? config.hostname : config.outbound.helo_name;
  o.ca_file = config.outbound.ca_file.string();
  o.attempt_deadline = config.outbound.timeout;
  o.connect_timeout = config.outbound.connect_timeout;
  o.max_addresses = config.outbound.max_addresses_per_host;
  o.connection_cache = reuse_limits(config.outbound);
  return o;
}

std::expected<std::unique_ptr<Router>, std::string> Router::create(
    const config::Config& config, const delivery::MailboxDirectory& directory) {
  if (!config.relay.host.empty()) {
    auto options = relay_options(config);
    if (!options) return std::unexpected(options.error());
    auto relay = delivery::remote::RelayDelivery::create(std::move(*options));
    if (!relay) return std::unexpected("relay: " + relay.error());
    std::string name = "[" + config.relay.host + "]:" + std::to_string(config.relay.port);
    return with_lmtp(
        std::unique_ptr<Router>(new Router(directory, nullptr, std::move(*relay), std::move(name))),
        config);
  }
  auto options = remote_options(config);
  if (!options) return std::unexpected(options.error());
  auto remote = delivery::remote::RemoteDelivery::create(std::move(*options));
  if (!remote) return std::unexpected("remote delivery: " + remote.error());
  return with_lmtp(std::unique_ptr<Router>(new Router(directory, std::move(*remote), nullptr, {})),
                   config);
}

std::unique_ptr<Router> Router::with_lmtp(std::unique_ptr<Router> router,
                                          const config::Config& config) {
  router->lhlo_name_ = config.hostname;
  router->lmtp_timeout_ = config.delivery.lmtp_timeout;
  return router;
}

smtp::OutgoingMessage Router::outgoing(const queue::StoredMessage& message,
                                       std::span<const unsigned> rcpts,
                                       const std::vector<std::size_t>& positions) {
  std::vector<unsigned> indexes;
  indexes.reserve(positions.size());
  for (std::size_t k : positions) indexes.push_back(rcpts[k]);
  return delivery::outgoing_message(message, indexes);
}

std::vector<delivery::Outcome> Router::deliver(const queue::StoredMessage& message,
                                               std::span<const unsigned> rcpts) {
  const auto& recipients = message.envelope.recipients;
  std::vector<delivery::Outcome> outcomes(rcpts.size());
  // Remote recipients by domain (lower case), as positions in `rcpts`; all of them, in order,
  // for the smarthost.
  std::map<std::string, std::vector<std::size_t>> remote;
  std::vector<std::size_t> relayed;
  std::vector<std::size_t> local;
  for (std::size_t k = 0; k < rcpts.size(); ++k) {
    std::optional<std::string> domain = remote_domain(recipients.at(rcpts[k]));
    if (!domain) {
      local.push_back(k);
      continue;
    }
    remote[std::move(*domain)].push_back(k);
    relayed.push_back(k);
  }
  if (!local.empty()) deliver_local(message, rcpts, local, outcomes);
  if (relay_) {
    // The smarthost takes every domain in one transaction (RFC 5321 §3.3: any recipients),
    // in the envelope's order.
    if (!relayed.empty()) {
      auto results = relay_->deliver(outgoing(message, rcpts, relayed));
      for (std::size_t j = 0; j < relayed.size(); ++j)
        outcomes[relayed[j]] = j < results.size()
                                   ? std::move(results[j])
                                   : delivery::Outcome{delivery::TempFail{"451 4.3.0 internal"}};
    }
    return outcomes;
  }
  for (const auto& [domain, positions] : remote) {
    auto results = remote_->deliver(domain, outgoing(message, rcpts, positions));
    for (std::size_t j = 0; j < positions.size(); ++j) {
      outcomes[positions[j]] = j < results.size()
                                   ? std::move(results[j])
                                   : delivery::Outcome{delivery::TempFail{"451 4.3.0 internal"}};
    }
  }
  return outcomes;
}

std::vector<std::string> Router::destinations(const queue::StoredMessage& message,
                                              std::span<const unsigned> rcpts) const {
  std::vector<std::string> out;
  for (const unsigned i : rcpts) {
    std::optional<std::string> domain = remote_domain(message.envelope.recipients.at(i));
    if (!domain) continue;
    // One transaction per attempt to the smarthost, whatever the domains.
    if (relay_) return {relay_name_};
    if (std::ranges::find(out, *domain) == out.end()) out.push_back(std::move(*domain));
  }
  return out;
}

std::optional<std::string> Router::remote_domain(const std::string& rcpt) const {
  const std::size_t at = rcpt.rfind('@');
  // A bare <Postmaster> (no domain) is local by definition (RFC 5321 §4.1.1.3).
  if (at == std::string::npos || directory_.is_local_domain(rcpt.substr(at + 1))) return {};
  std::string domain = rcpt.substr(at + 1);
  for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return domain;
}

void Router::deliver_local(const queue::StoredMessage& message, std::span<const unsigned> rcpts,
                           const std::vector<std::size_t>& positions,
                           std::vector<delivery::Outcome>& outcomes) const {
  struct LmtpGroup {
    config::LmtpTarget target;
    std::vector<std::size_t> positions;
    std::vector<std::string> addresses;  // the mailboxes' configured addresses, for RCPT
  };
  std::map<std::string, LmtpGroup> lmtp;  // by target text
  for (std::size_t k : positions) {
    const unsigned index = rcpts[k];
    const std::string& rcpt = message.envelope.recipients.at(index);
    auto box = directory_.find_mailbox(rcpt);
    if (!box) {
      outcomes[k] = delivery::PermFail{"550 5.1.1 <" + rcpt + ">: mailbox no longer exists"};
      continue;
    }
    if (box->lmtp.empty()) {
      outcomes[k] = delivery::Maildir(box->maildir).deliver(message.id, index, message.content);
      continue;
    }
    // A non-ASCII address needs SMTPUTF8 (RFC 6531 §3.2), which the server may lack (Dovecot
    // 2.3 does): such mailboxes get their own transaction, so the session's refusal of them
    // does not take the ASCII ones along.
    bool utf8 = smtp::has_8bit(box->address);
    LmtpGroup& group = lmtp[box->lmtp.text() + (utf8 ? " utf8" : "")];
    group.target = box->lmtp;
    group.positions.push_back(k);
    group.addresses.push_back(box->address);
  }
  // RFC 2033 §4.2: one transaction carries every recipient on that server, each answered on
  // its own after the data.
  for (auto& [name, group] : lmtp) {
    smtp::OutgoingMessage m = outgoing(message, rcpts, group.positions);
    m.recipients = std::move(group.addresses);
    auto results =
        delivery::Lmtp(group.target, lhlo_name_, lmtp_timeout_).deliver(message.id, std::move(m));
    for (std::size_t j = 0; j < group.positions.size(); ++j)
      outcomes[group.positions[j]] =
          j < results.size() ? std::move(results[j])
                             : delivery::Outcome{delivery::TempFail{"451 4.3.0 internal"}};
  }
}

}  // namespace sealpost::daemon
