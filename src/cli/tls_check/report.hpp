// What tls-check found, and its two renderings: aligned text for people and one JSON object
// for programs (its fields are documented in sealpost(1), TLS-CHECK, and only ever added to).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "cli/tls_check/dane_lookup.hpp"
#include "cli/tls_check/probe.hpp"
#include "cli/tls_check/tls_check_options.hpp"

namespace sealpost::cli::tls_check {

struct Outcome {
  ProbeResult probe;
  std::string dane_source = "none";  // "none" | "tlsa-option" | "dns"
  std::optional<TlsaLookup> dns;     // --dane
  std::vector<tls::Tlsa> tlsa;       // the records the peer was checked against
  bool verified = false;
  std::string method;   // "pkix" | "dane-ee" | "dane-ta" when verified
  std::string failure;  // why not verified (or the error), "" when verified
  std::string error;    // the one-line error for stderr, "" when the check ran to a verdict
  int exit_code = 0;
};

void print_text(const Options& options, const Outcome& outcome, std::ostream& out);
std::string to_json(const Options& options, const Outcome& outcome);  // one line

}  // namespace sealpost::cli::tls_check
