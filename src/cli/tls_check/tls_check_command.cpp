// tls-check's top level: options, the optional TLSA lookup, the probe, the verdict, the
// report. The verdict rule (RFC 7672 §2.2): secure TLSA records decide when present; a bogus
// or failed TLSA lookup under --dane fails the check whatever PKIX says; otherwise PKIX.
#include "cli/tls_check/tls_check_command.hpp"

#include <openssl/x509_vfy.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <ostream>

#include "cli/tls_check/dane_lookup.hpp"
#include "cli/tls_check/probe.hpp"
#include "cli/tls_check/report.hpp"
#include "cli/tls_check/tls_check_options.hpp"

namespace sealpost::cli {

using namespace tls_check;

namespace {

void decide(const Options& o, Outcome& oc) {
  const ProbeResult& p = oc.probe;
  if (oc.dns && oc.dns->failed()) {
    // DANE was asked for and cannot be satisfied, whatever the connection did.
    oc.exit_code = 1;
    oc.failure = "DANE: the TLSA lookup for " + oc.dns->qname +
                 (oc.dns->security == "bogus" ? " is bogus" : " failed") +
                 (oc.dns->detail.empty() ? "" : " (" + oc.dns->detail + ")");
    if (!p.error.empty()) oc.failure += "; " + p.error;
    oc.error = oc.failure;
    return;
  }
  if (!p.error.empty()) {
    oc.failure = oc.error = p.error;
    oc.exit_code = p.exit_code;
    return;
  }
  oc.exit_code = 1;
  const tls::PeerResult& peer = *p.peer;
  if (peer.verified) {
    oc.verified = true;
    oc.method = peer.method;
    oc.exit_code = 0;
    return;
  }
  oc.failure = peer.reason;
  if (peer.error_depth >= 0) oc.failure += " at depth " + std::to_string(peer.error_depth);
  if (peer.verify_error == X509_V_ERR_HOSTNAME_MISMATCH ||
      peer.verify_error == X509_V_ERR_IP_ADDRESS_MISMATCH)
    oc.failure += " (the certificate does not name " + o.reference_name + ")";
}

}  // namespace

TlsCheckCommand::TlsCheckCommand(CLI::App& app) : options_(std::make_unique<Options>()) {
  command_ = app.add_subcommand("tls-check", "connect to a server and diagnose its TLS");
  add_options(*command_, *options_);
}

TlsCheckCommand::~TlsCheckCommand() = default;

bool TlsCheckCommand::parsed() const { return command_->parsed(); }

int TlsCheckCommand::run(std::ostream& out, std::ostream& err) {
  Options& o = *options_;
  if (auto error = finish_options(o)) {
    err << "sealpost tls-check: " << *error << "\n";
    return kExUsage;
  }
  // A server that closes mid-write must give EPIPE, not kill us (SSL_write uses write(2)).
  std::signal(SIGPIPE, SIG_IGN);
  try {
    Deadline deadline = Clock::now() + timeout(o);
    Outcome oc;
    std::vector<std::string> addresses;
    if (o.dane) {
      oc.dane_source = "dns";
      oc.dns = lookup_dane(o, deadline);
      if (oc.dns->resolver_unusable) {
        err << "sealpost tls-check: " << oc.dns->detail << "\n";
        return kExConfig;
      }
      if (oc.dns->applies()) oc.tlsa = oc.dns->records;
      addresses = oc.dns->addresses;
    } else if (!o.tlsa.empty()) {
      oc.dane_source = "tlsa-option";
      oc.tlsa = o.tlsa;
    }
    oc.probe = probe(o, oc.tlsa, addresses, deadline);
    decide(o, oc);
    if (o.json) {
      out << to_json(o, oc) << "\n";
    } else {
      print_text(o, oc, out);
    }
    out.flush();
    if (!oc.error.empty()) err << "sealpost tls-check: " << oc.error << "\n";
    return oc.exit_code;
  } catch (const std::exception& e) {
    err << "sealpost tls-check: internal error: " << e.what() << "\n";
    return kExSoftware;
  }
}

}  // namespace sealpost::cli
