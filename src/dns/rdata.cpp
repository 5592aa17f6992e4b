// RDATA parsing: every read is bounds-checked against the RDATA length; a record must be
// consumed exactly (RFC 1035 §3.2.1: RDLENGTH is the whole RDATA), else it is malformed.
#include "dns/rdata.hpp"

#include <arpa/inet.h>

#include <cstdio>

namespace sealpost::dns {

namespace {

struct Reader {
  Bytes data;
  std::size_t pos = 0;

  bool u8(std::uint8_t& v) {
    if (pos + 1 > data.size()) return false;
    v = data[pos++];
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (pos + 2 > data.size()) return false;
    v = static_cast<std::uint16_t>(data[pos] << 8 | data[pos + 1]);
    pos += 2;
    return true;
  }
  bool done() const { return pos == data.size(); }
};

void append_label_byte(std::string& out, std::uint8_t c) {
  // RFC 4343 §2.1 / RFC 1035 §5.1: escape the separator, the escape and non-printables.
  if (c == '.' || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || c == '@' ||
      c == '$') {
    out += '\\';
    out += static_cast<char>(c);
  } else if (c <= 0x20 || c >= 0x7f) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
    out += buf;
  } else {
    out += static_cast<char>(c);
  }
}

}  // namespace

const char* rr_type_name(RrType type) {
  switch (type) {
    case RrType::kA:
      return "A";
    case RrType::kCname:
      return "CNAME";
    case RrType::kMx:
      return "MX";
    case RrType::kTxt:
      return "TXT";
    case RrType::kAaaa:
      return "AAAA";
    case RrType::kSrv:
      return "SRV";
    case RrType::kTlsa:
      return "TLSA";
  }
  return "?";
}

std::optional<RrType> rr_type_from_name(std::string_view name) {
  static constexpr RrType kAll[] = {RrType::kA,    RrType::kCname, RrType::kMx,  RrType::kTxt,
                                    RrType::kAaaa, RrType::kSrv,   RrType::kTlsa};
  for (RrType t : kAll) {
    std::string_view want = rr_type_name(t);
    if (want.size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < want.size(); ++i) {
      char c = name[i];
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      same = same && c == want[i];
    }
    if (same) return t;
  }
  return std::nullopt;
}

std::string TxtRecord::joined() const {
  std::string out;
  for (const auto& s : strings) out += s;
  return out;
}

std::optional<std::string> parse_name(Bytes wire, std::size_t& pos) {
  std::string out;
  std::size_t total = 0;  // wire length, RFC 1035 §2.3.4: at most 255 octets
  for (;;) {
    if (pos >= wire.size()) return std::nullopt;
    std::uint8_t len = wire[pos++];
    total += 1u + len;
    if (total > 255) return std::nullopt;
    if (len == 0) break;
    if (len > 63) return std::nullopt;  // 0xC0 pointers and reserved label types: not here
    if (pos + len > wire.size()) return std::nullopt;
    for (std::size_t i = 0; i < len; ++i) append_label_byte(out, wire[pos + i]);
    out += '.';
    pos += len;
  }
  if (out.empty()) out = ".";
  return out;
}

std::optional<std::string> parse_a(Bytes rdata) {
  if (rdata.size() != 4) return std::nullopt;
  char buf[INET_ADDRSTRLEN];
  if (inet_ntop(AF_INET, rdata.data(), buf, sizeof buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

std::optional<std::string> parse_aaaa(Bytes rdata) {
  if (rdata.size() != 16) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, rdata.data(), buf, sizeof buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

std::optional<std::string> parse_cname(Bytes rdata) {
  std::size_t pos = 0;
  auto name = parse_name(rdata, pos);
  if (!name || pos != rdata.size()) return std::nullopt;
  return name;
}

std::optional<MxRecord> parse_mx(Bytes rdata) {
  Reader r{rdata};
  MxRecord mx;
  if (!r.u16(mx.preference)) return std::nullopt;
  auto name = parse_name(rdata, r.pos);
  if (!name || !r.done()) return std::nullopt;
  mx.exchange = std::move(*name);
  return mx;
}

std::optional<SrvRecord> parse_srv(Bytes rdata) {
  Reader r{rdata};
  SrvRecord srv;
  if (!r.u16(srv.priority) || !r.u16(srv.weight) || !r.u16(srv.port)) return std::nullopt;
  auto name = parse_name(rdata, r.pos);
  if (!name || !r.done()) return std::nullopt;
  srv.target = std::move(*name);
  return srv;
}

std::optional<TlsaRecord> parse_tlsa(Bytes rdata) {
  Reader r{rdata};
  TlsaRecord tlsa;
  if (!r.u8(tlsa.usage) || !r.u8(tlsa.selector) || !r.u8(tlsa.matching_type)) return std::nullopt;
  // RFC 6698 §2.1.4: the data may be empty only in theory; a record without data is unusable.
  if (r.done()) return std::nullopt;
  tlsa.data.assign(rdata.begin() + 3, rdata.end());
  return tlsa;
}

std::optional<TxtRecord> parse_txt(Bytes rdata) {
  if (rdata.empty()) return std::nullopt;  // RFC 1035 §3.3.14: one or more strings
  Reader r{rdata};
  TxtRecord txt;
  while (!r.done()) {
    std::uint8_t len = 0;
    r.u8(len);
    if (r.pos + len > rdata.size()) return std::nullopt;
    txt.strings.emplace_back(reinterpret_cast<const char*>(rdata.data() + r.pos), len);
    r.pos += len;
  }
  return txt;
}

std::string hex(Bytes data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\%03u", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::optional<std::string> typed_text(RrType type, Bytes rdata) {
  switch (type) {
    case RrType::kA:
      return parse_a(rdata);
    case RrType::kAaaa:
      return parse_aaaa(rdata);
    case RrType::kCname:
      return parse_cname(rdata);
    case RrType::kMx:
      if (auto mx = parse_mx(rdata)) return std::to_string(mx->preference) + " " + mx->exchange;
      return std::nullopt;
    case RrType::kSrv:
      if (auto s = parse_srv(rdata))
        return std::to_string(s->priority) + " " + std::to_string(s->weight) + " " +
               std::to_string(s->port) + " " + s->target;
      return std::nullopt;
    case RrType::kTlsa:
      if (auto t = parse_tlsa(rdata)) return t->to_text();
      return std::nullopt;
    case RrType::kTxt:
      if (auto t = parse_txt(rdata)) {
        std::string out;
        for (const auto& s : t->strings) out += (out.empty() ? "" : " ") + quoted(s);
        return out;
      }
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::string TlsaRecord::to_text() const {
  return std::to_string(usage) + " " + std::to_string(selector) + " " +
         std::to_string(matching_type) + " " + hex(data);
}

std::string rdata_to_text(RrType type, Bytes rdata) {
  if (auto text = typed_text(type, rdata)) return *text;
  return "\\# " + std::to_string(rdata.size()) + (rdata.empty() ? "" : " " + hex(rdata));
}

}  // namespace sealpost::dns
