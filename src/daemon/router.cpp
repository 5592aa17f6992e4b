#include "daemon/router.hpp"

#include "delivery/maildir.hpp"
#include "tls/policy.hpp"

namespace sealpost::daemon {

namespace {

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

std::expected<std::unique_ptr<Router>, std::string> Router::create(
    const config::Config& config, const delivery::MailboxDirectory& directory) {
  auto options = remote_options(config);
  if (!options) return std::unexpected(options.error());
  auto remote = delivery::remote::RemoteDelivery::create(std::move(*options));
  if (!remote) return std::unexpected("remote delivery: " + remote.error());
  return std::unique_ptr<Router>(new Router(directory, std::move(*remote)));
}

delivery::Outcome Router::deliver(const queue::StoredMessage& message, unsigned index) {
  const std::string& rcpt = message.envelope.recipients.at(index);
  std::size_t at = rcpt.rfind('@');
  // A bare <Postmaster> (no domain) is local by definition (RFC 5321 §4.1.1.3).
  if (at == std::string::npos || directory_.is_local_domain(rcpt.substr(at + 1))) {
    auto maildir = directory_.find(rcpt);
    if (!maildir) return delivery::PermFail{"550 5.1.1 <" + rcpt + ">: mailbox no longer exists"};
    return delivery::Maildir(*maildir).deliver(message.id, index, message.content);
  }
  // Relayed by an authenticated user (the MX role accepts local recipients only).
  delivery::remote::RemoteMessage remote;
  remote.reverse_path = message.envelope.reverse_path;
  remote.recipients = {rcpt};
  remote.content = message.content;
  remote.smtputf8 = message.envelope.smtputf8;
  return remote_->deliver(rcpt.substr(at + 1), remote).at(0);
}

}  // namespace sealpost::daemon
