// `tls-check --dane`: the TLSA RRset of _PORT._tcp.HOST (RFC 6698 §3, RFC 7672 §2.2) and the
// host's addresses through the DNSSEC-validating resolver (src/dns). Only a secure answer may
// drive DANE; an insecure one means "no DANE"; bogus or a failed lookup means DANE cannot be
// satisfied (RFC 7672 §2.2: the client must not fall back to PKIX or to no authentication).
#pragma once

#include <string>
#include <vector>

#include "cli/tls_check/tls_check_options.hpp"
#include "net/client_connection.hpp"
#include "tls/client_verify.hpp"

namespace sealpost::cli::tls_check {

struct TlsaLookup {
  std::string qname;     // "_25._tcp.mx.example.org"
  std::string security;  // "secure" | "insecure" | "bogus"; "" without an answer
  // "records" | "nxdomain" | "nodata" | "servfail" | "error" (no answer at all)
  std::string status;
  std::string detail;  // why bogus, or the lookup error
  std::vector<tls::Tlsa> records;
  std::size_t malformed = 0;           // RDATA that did not parse (unusable)
  std::vector<std::string> addresses;  // HOST's A and AAAA from the same resolver
  std::string address_security;        // of the address answers ("secure" only if all are)
  bool resolver_unusable = false;      // bad --dns-server, no trust anchor: a setup error (exit 78)

  // Secure TLSA records: DANE applies and decides.
  bool applies() const { return security == "secure" && !records.empty(); }
  // DANE was asked for and cannot be satisfied: bogus, SERVFAIL or no answer.
  bool failed() const { return security == "bogus" || status == "servfail" || status == "error"; }
};

TlsaLookup lookup_dane(const Options& options, net::Deadline deadline);

}  // namespace sealpost::cli::tls_check
