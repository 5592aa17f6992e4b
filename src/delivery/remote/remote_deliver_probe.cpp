// remote_deliver_probe: drives RemoteDelivery once for tests/integration/test_16_remote.py.
// Prints each attempt's log line, then "RESULT <recipient> <delivered|reply>" per recipient.
// Exit: 0 all delivered, 75 any deferred (and none bounced), 69 any bounced, 64 usage.
#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>
#include <iterator>

#include "delivery/remote/mx_plan.hpp"
#include "delivery/remote/remote_delivery.hpp"
#include "smtp/dot_stuffer.hpp"

using namespace sealpost;

int main(int argc, char** argv) {
  CLI::App app{"deliver one message to one domain's MX hosts (test driver)"};
  std::string domain, from, message_file, policy = "dane,mta-sts,may", trust_anchor;
  std::vector<std::string> to, dns_servers;
  delivery::remote::RemoteOptions o;
  int timeout = 30;
  app.add_option("--domain", domain, "destination domain")->required();
  app.add_option("--from", from, "reverse-path");
  app.add_option("--to", to, "recipient (repeat)")->required();
  app.add_option("--message", message_file, "RFC 5322 message file (Unix or CRLF lines)")
      ->required();
  app.add_option("--mx-port", o.mx_port, "port of the MX hosts");
  app.add_option("--dns-server", dns_servers, "forwarder IP[@PORT]");
  app.add_option("--trust-anchor", trust_anchor, "DS/DNSKEY file");
  app.add_option("--ca-file", o.ca_file, "PKIX trust anchors");
  app.add_option("--policy", policy, "TLS policy chain");
  std::vector<std::string> domain_policies;
  app.add_option("--domain-policy", domain_policies, "DOMAIN=CHAIN (repeat)");
  app.add_option("--helo", o.helo_name, "EHLO name");
  app.add_option("--timeout", timeout, "seconds per attempt");
  int connect_timeout = 30;
  app.add_option("--connect-timeout", connect_timeout, "seconds for the TCP connect");
  std::size_t max_mx_hosts = 5;
  app.add_option("--max-mx-hosts", max_mx_hosts, "MX hosts tried per delivery (0: all)");
  app.add_option("--mta-sts-port", o.mta_sts_port, "HTTPS port of mta-sts.DOMAIN");
  app.add_option("--mta-sts-cache-dir", o.mta_sts_cache_dir, "keep MTA-STS policies here");
  CLI11_PARSE(app, argc, argv);

  std::string error;
  auto chain = tls::parse_policy_chain(policy, &error);
  if (!chain) {
    std::cerr << "remote_deliver_probe: " << error << "\n";
    return 64;
  }
  o.policy_chain = *chain;
  for (const std::string& dp : domain_policies) {
    auto eq = dp.find('=');
    auto c =
        eq == std::string::npos ? std::nullopt : tls::parse_policy_chain(dp.substr(eq + 1), &error);
    if (!c) {
      std::cerr << "remote_deliver_probe: bad --domain-policy " << dp << " " << error << "\n";
      return 64;
    }
    o.domain_policies[dp.substr(0, eq)] = *c;
  }
  o.resolver.forwarders = dns_servers;
  if (!trust_anchor.empty()) o.resolver.trust_anchor_files = {trust_anchor};
  o.resolver.timeout = std::chrono::seconds(5);
  o.attempt_deadline = std::chrono::seconds(timeout);
  o.connect_timeout = std::chrono::seconds(connect_timeout);
  o.max_mx_hosts = max_mx_hosts;
  o.shuffle_equal_preference = false;
  o.log = [](const std::string& line) { std::cout << line << std::endl; };

  std::ifstream in(message_file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto content = smtp::to_crlf(text);
  if (!in.good() && !in.eof()) {
    std::cerr << "remote_deliver_probe: cannot read " << message_file << "\n";
    return 64;
  }
  if (!content) {
    std::cerr << "remote_deliver_probe: message has bare CR\n";
    return 64;
  }
  auto remote = delivery::remote::RemoteDelivery::create(o);
  if (!remote) {
    std::cerr << "remote_deliver_probe: " << remote.error() << "\n";
    return 64;
  }
  auto outcomes = (*remote)->deliver(domain, {from, to, *content, false});
  int rc = 0;
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    std::cout << "RESULT " << to[i] << " " << delivery::remote::outcome_text(outcomes[i])
              << std::endl;
    if (std::holds_alternative<delivery::PermFail>(outcomes[i])) rc = 69;
    if (std::holds_alternative<delivery::TempFail>(outcomes[i]) && rc == 0) rc = 75;
  }
  return rc;
}
