// Typed views of an Answer's RDATA (src/dns/rdata does the parsing).
#include "dns/answer.hpp"

namespace sealpost::dns {

namespace {

template <class T, class Parse>
Records<T> parse_each(const Answer& a, Parse parse) {
  Records<T> out;
  for (const auto& rd : a.rdata) {
    if (auto r = parse(Bytes(rd.data(), rd.size()))) {
      out.records.push_back(std::move(*r));
    } else {
      ++out.malformed;
    }
  }
  return out;
}

}  // namespace

const char* security_name(Security s) {
  switch (s) {
    case Security::kInsecure:
      return "insecure";
    case Security::kSecure:
      return "secure";
    case Security::kBogus:
      return "bogus";
  }
  return "?";
}

Records<std::string> Answer::addresses() const {
  return qtype == RrType::kAaaa ? parse_each<std::string>(*this, parse_aaaa)
                                : parse_each<std::string>(*this, parse_a);
}
Records<MxRecord> Answer::mx() const { return parse_each<MxRecord>(*this, parse_mx); }
Records<SrvRecord> Answer::srv() const { return parse_each<SrvRecord>(*this, parse_srv); }
Records<TlsaRecord> Answer::tlsa() const { return parse_each<TlsaRecord>(*this, parse_tlsa); }
Records<TxtRecord> Answer::txt() const { return parse_each<TxtRecord>(*this, parse_txt); }

bool Answer::null_mx() const {
  auto set = mx();
  return set.malformed == 0 && set.records.size() == 1 && set.records.front().is_null();
}

std::vector<std::string> Answer::texts() const {
  std::vector<std::string> out;
  for (const auto& rd : rdata) out.push_back(rdata_to_text(qtype, Bytes(rd.data(), rd.size())));
  return out;
}

}  // namespace sealpost::dns
