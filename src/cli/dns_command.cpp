// `sealpost dns`: text output is "key: value" lines plus one line per record; --json gives the
// same facts with each record parsed into its fields.
#include "cli/dns_command.hpp"

#include <CLI/CLI.hpp>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>

#include "dns/resolver.hpp"

namespace sealpost::cli {

namespace {

constexpr int kExUsage = 64;
constexpr int kExTempFail = 75;
constexpr int kExConfig = 78;
constexpr int kExitBogus = 1;

std::string rcode_name(int rcode) {
  static const char* const kNames[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                       "NXDOMAIN", "NOTIMP",  "REFUSED"};
  if (rcode >= 0 && rcode < 6) return kNames[rcode];
  return "RCODE" + std::to_string(rcode);
}

nlohmann::json parsed_record(dns::RrType type, const std::vector<std::uint8_t>& rd) {
  dns::Bytes bytes(rd.data(), rd.size());
  nlohmann::json j = nlohmann::json::object();
  switch (type) {
    case dns::RrType::kA:
    case dns::RrType::kAaaa:
      if (auto a = type == dns::RrType::kA ? dns::parse_a(bytes) : dns::parse_aaaa(bytes))
        j["address"] = *a;
      break;
    case dns::RrType::kCname:
      if (auto c = dns::parse_cname(bytes)) j["target"] = *c;
      break;
    case dns::RrType::kMx:
      if (auto mx = dns::parse_mx(bytes))
        j = {{"preference", mx->preference}, {"exchange", mx->exchange}, {"null", mx->is_null()}};
      break;
    case dns::RrType::kSrv:
      if (auto s = dns::parse_srv(bytes))
        j = {{"priority", s->priority},
             {"weight", s->weight},
             {"port", s->port},
             {"target", s->target}};
      break;
    case dns::RrType::kTlsa:
      if (auto t = dns::parse_tlsa(bytes))
        j = {{"usage", t->usage},
             {"selector", t->selector},
             {"matching_type", t->matching_type},
             {"data", dns::hex(t->data)}};
      break;
    case dns::RrType::kTxt:
      if (auto t = dns::parse_txt(bytes)) j = {{"strings", t->strings}, {"text", t->joined()}};
      break;
  }
  if (j.empty()) j["malformed"] = dns::hex(bytes);
  return j;
}

void print_json(const dns::Answer& a, std::ostream& out) {
  nlohmann::json j;
  j["name"] = a.qname;
  j["type"] = dns::rr_type_name(a.qtype);
  j["rcode"] = rcode_name(a.rcode);
  j["nxdomain"] = a.nxdomain;
  j["nodata"] = a.nodata();
  j["dnssec"] = dns::security_name(a.security);
  if (a.bogus()) j["why_bogus"] = a.why_bogus;
  j["ttl"] = a.ttl;
  j["canonical_name"] = a.canonical_name;
  if (a.qtype == dns::RrType::kMx) j["null_mx"] = a.null_mx();
  auto texts = a.texts();
  nlohmann::json records = nlohmann::json::array();
  for (std::size_t i = 0; i < a.rdata.size(); ++i) {
    nlohmann::json r = parsed_record(a.qtype, a.rdata[i]);
    r["text"] = texts[i];
    records.push_back(std::move(r));
  }
  j["records"] = std::move(records);
  // Replace, not throw, on bytes that are not UTF-8 (TXT data is arbitrary octets).
  out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void print_text(const dns::Answer& a, std::ostream& out) {
  out << "name: " << a.qname << "\n";
  out << "type: " << dns::rr_type_name(a.qtype) << "\n";
  out << "rcode: " << rcode_name(a.rcode) << (a.nodata() ? " (NODATA)" : "") << "\n";
  out << "dnssec: " << dns::security_name(a.security) << "\n";
  if (a.bogus()) out << "why_bogus: " << a.why_bogus << "\n";
  if (!a.canonical_name.empty()) out << "canonical_name: " << a.canonical_name << "\n";
  if (a.has_data) out << "ttl: " << a.ttl << "\n";
  if (a.qtype == dns::RrType::kMx && a.null_mx())
    out << "null_mx: yes (RFC 7505: the domain accepts no mail)\n";
  for (const auto& text : a.texts()) out << "record: " << text << "\n";
}

}  // namespace

DnsCommand::DnsCommand(CLI::App& app) {
  command_ = app.add_subcommand("dns", "look up a DNS record and its DNSSEC status");
  command_->add_option("name", name_, "the name to look up")->required();
  command_->add_option("type", type_, "A, AAAA, MX, TXT, SRV, TLSA or CNAME")->required();
  command_->add_option("--server", servers_,
                       "forward to this resolver, IP[@PORT] (repeatable); default: recursion");
  command_->add_option("--trust-anchor", trust_anchors_,
                       "DS/DNSKEY trust anchor file (repeatable); default: the root anchor");
  command_->add_flag("--resolv-conf", resolv_conf_, "forward to resolv.conf's name servers");
  command_->add_flag("--no-validate", no_validate_, "no DNSSEC validation (all insecure)");
  command_->add_flag("--json", json_, "machine-readable output");
  command_->add_option("--timeout", timeout_seconds_, "seconds (default 10)");
}

bool DnsCommand::parsed() const { return command_->parsed(); }

int DnsCommand::run(std::ostream& out, std::ostream& err) {
  auto type = dns::rr_type_from_name(type_);
  if (!type) {
    err << "sealpost dns: unsupported type '" << type_ << "'\n";
    return kExUsage;
  }
  if (timeout_seconds_ < 1) {
    err << "sealpost dns: --timeout must be >= 1\n";
    return kExUsage;
  }
  dns::ResolverOptions options;
  options.forwarders = servers_;
  options.use_resolv_conf = resolv_conf_;
  options.trust_anchor_files = trust_anchors_;
  options.validate = !no_validate_;
  options.timeout = std::chrono::seconds(timeout_seconds_);
  // The asynchronous resolver on an event loop, as the daemon uses it (the integration tests
  // check src/dns through this command); run() returns once the answer is in.
  asio::io_context io;
  auto resolver = dns::Resolver::create(io, options);
  if (!resolver) {
    err << "sealpost dns: " << resolver.error() << "\n";
    return kExConfig;
  }
  std::optional<dns::Result> answer;
  (*resolver)->resolve(name_, *type, [&](dns::Result r) { answer = std::move(r); });
  io.run();
  if (!answer) {
    err << "sealpost dns: no answer\n";
    return kExTempFail;
  }
  dns::Result& result = *answer;
  if (!result) {
    err << "sealpost dns: " << result.error() << "\n";
    return kExTempFail;
  }
  if (json_) {
    print_json(*result, out);
  } else {
    print_text(*result, out);
  }
  if (result->bogus()) return kExitBogus;
  if (result->rcode == dns::kRcodeServFail) return kExTempFail;
  return 0;
}

}  // namespace sealpost::cli
