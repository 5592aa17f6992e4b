// DNS record data (RDATA) in wire form -> plain structs: A, AAAA, MX, SRV, TLSA, TXT, CNAME.
// Dependency-free C++20 (fuzzed by tests/fuzz/rdata_fuzz.cpp). Names in RDATA must be
// uncompressed (RFC 3597 §4: libunbound hands them over expanded); a compression pointer, a
// truncated field or trailing bytes make the record malformed (nullopt), never a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sealpost::dns {

using Bytes = std::span<const std::uint8_t>;

// The record types we ask for (IANA RR TYPE values).
enum class RrType : std::uint16_t {
  kA = 1,
  kCname = 5,
  kMx = 15,
  kTxt = 16,
  kAaaa = 28,
  kSrv = 33,
  kTlsa = 52,
};

const char* rr_type_name(RrType type);                           // "MX"
std::optional<RrType> rr_type_from_name(std::string_view name);  // "mx" or "MX" -> kMx

struct MxRecord {
  std::uint16_t preference = 0;
  std::string exchange;  // presentation form, absolute with trailing dot: "mx.example.org."
  // RFC 7505 §3: preference 0 and the root as exchange: "this domain accepts no mail".
  bool is_null() const { return preference == 0 && exchange == "."; }
};

struct SrvRecord {  // RFC 2782
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;  // "." means "service decidedly not available"
};

struct TlsaRecord {                // RFC 6698 §2.1
  std::uint8_t usage = 0;          // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  std::uint8_t selector = 0;       // 0 full certificate, 1 SubjectPublicKeyInfo
  std::uint8_t matching_type = 0;  // 0 exact, 1 SHA2-256, 2 SHA2-512
  std::vector<std::uint8_t> data;

  std::string to_text() const;  // presentation form "3 1 1 0a1b..." (lower-case hex)
  bool operator==(const TlsaRecord&) const = default;
};

struct TxtRecord {  // RFC 1035 §3.3.14: one or more <character-string>s
  std::vector<std::string> strings;
  std::string joined() const;  // the strings concatenated (RFC 7208 §3.3, RFC 8461 §3.1)
};

// A domain name in uncompressed wire form starting at `wire[pos]`; advances pos. Labels are
// rendered in presentation form (RFC 4343 §2.1: '.', '\\' and non-printable bytes escaped).
std::optional<std::string> parse_name(Bytes wire, std::size_t& pos);

std::optional<std::string> parse_a(Bytes rdata);     // "192.0.2.1"
std::optional<std::string> parse_aaaa(Bytes rdata);  // "2001:db8::1" (RFC 5952 form)
std::optional<std::string> parse_cname(Bytes rdata);
std::optional<MxRecord> parse_mx(Bytes rdata);
std::optional<SrvRecord> parse_srv(Bytes rdata);
std::optional<TlsaRecord> parse_tlsa(Bytes rdata);
std::optional<TxtRecord> parse_txt(Bytes rdata);

// One line of presentation text for any of the types above ("10 mx.example.org."); for an
// unknown type or malformed data the RFC 3597 form "\# LEN HEX".
std::string rdata_to_text(RrType type, Bytes rdata);

std::string hex(Bytes data);  // lowercase, no separators

}  // namespace sealpost::dns
