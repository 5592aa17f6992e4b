// One DNS answer as libunbound gives it: rcode, NXDOMAIN/NODATA, TTL, the DNSSEC status and the
// raw RDATA of the answer RRset (after libunbound followed any CNAME chain: canonical_name says
// where it ended). Typed views parse the RDATA with src/dns/rdata.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/rdata.hpp"

namespace sealpost::dns {

// RFC 4035 §4.3 states, as a validating resolver reports them.
enum class Security {
  kInsecure,  // no chain of trust (unsigned zone, or no trust anchor covers it)
  kSecure,    // validated from a trust anchor
  kBogus,     // should have validated and did not: treat as an attack, never as "insecure"
};
const char* security_name(Security s);  // "insecure" | "secure" | "bogus"

inline constexpr int kRcodeNoError = 0;
inline constexpr int kRcodeServFail = 2;
inline constexpr int kRcodeNxDomain = 3;

template <class T>
struct Records {
  std::vector<T> records;
  std::size_t malformed = 0;  // RDATA that did not parse (skipped)
};

struct Answer {
  std::string qname;  // as asked
  RrType qtype = RrType::kA;
  int rcode = kRcodeNoError;  // RFC 1035 §4.1.1
  bool nxdomain = false;      // the name does not exist
  bool has_data = false;      // at least one record of qtype
  Security security = Security::kInsecure;
  std::string why_bogus;       // libunbound's reason when security == kBogus
  std::uint32_t ttl = 0;       // of the answer RRset (0 without data)
  std::string canonical_name;  // the name the data belongs to, after CNAMEs ("" if none)
  // Wire RDATA, one entry per record. A bogus answer may still carry the (forged) data, for
  // diagnostics: whoever acts on an answer checks `security` first.
  std::vector<std::vector<std::uint8_t>> rdata;

  // NOERROR without records of this type (RFC 2308 §2.2).
  bool nodata() const { return rcode == kRcodeNoError && !nxdomain && !has_data; }
  bool secure() const { return security == Security::kSecure; }
  bool bogus() const { return security == Security::kBogus; }

  Records<std::string> addresses() const;  // A or AAAA, as text
  Records<MxRecord> mx() const;
  Records<SrvRecord> srv() const;
  Records<TlsaRecord> tlsa() const;
  Records<TxtRecord> txt() const;
  // RFC 7505 §3: exactly one MX, and it is the null MX.
  bool null_mx() const;
  // Presentation text of each record ("10 mx.example.org."), for logs and `sealpost dns`.
  std::vector<std::string> texts() const;
};

}  // namespace sealpost::dns
