// Renders an Outcome. Text: one "label: value" line per fact, the chain indented below, the
// verdict last. JSON: nlohmann::json, dumped with invalid UTF-8 replaced (certificate names
// are peer data, and a dump must not throw on them).
#include "cli/tls_check/report.hpp"

#include <iomanip>
#include <nlohmann/json.hpp>

namespace sealpost::cli::tls_check {

namespace {

using nlohmann::json;

const char* mode_name(TlsStart start) {
  return start == TlsStart::kImplicit ? "implicit" : "starttls";
}

std::string join(const std::vector<std::string>& items, const char* separator = " ") {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

void line(std::ostream& out, const std::string& label, const std::string& value) {
  out << std::left << std::setw(14) << (label + ":") << value << "\n";
}

std::string dane_summary(const Outcome& o) {
  const tls::PeerSetup& s = o.probe.setup;
  std::string text = std::to_string(o.tlsa.size()) + " TLSA record(s) " +
                     (o.dane_source == "dns" ? "from DNS" : "given") + ", " +
                     std::to_string(s.tlsa_usable) + " usable";
  if (s.tlsa_ignored > 0)
    text += ", " + std::to_string(s.tlsa_ignored) + " ignored (PKIX-TA/EE or unsupported)";
  if (!s.dane && o.probe.peer) text += "; no usable record, so PKIX decides";
  return text;
}

std::string dns_summary(const TlsaLookup& d) {
  std::string text = d.qname + " TLSA: ";
  if (d.status == "error") return text + "lookup failed: " + d.detail;
  text += d.security.empty() ? d.status : d.security + ", " + d.status;
  if (d.status == "records") text += " (" + std::to_string(d.records.size()) + ")";
  if (!d.detail.empty()) text += ": " + d.detail;
  if (d.security == "insecure" && d.status == "records") text += "; not signed, so not used";
  return text;
}

}  // namespace

void print_text(const Options& o, const Outcome& oc, std::ostream& out) {
  const ProbeResult& p = oc.probe;
  line(out, "target",
       o.host + " port " + std::to_string(o.port) +
           (o.start == TlsStart::kImplicit ? " (implicit TLS)" : " (STARTTLS)"));
  if (p.address.empty()) return;  // never connected: the error line says it all
  line(out, "connected", p.address);
  if (!p.greeting.empty()) line(out, "greeting", p.greeting);
  if (p.starttls_offered) line(out, "STARTTLS", *p.starttls_offered ? "offered" : "NOT offered");
  line(out, "SNI", o.sni.empty() ? "(none)" : o.sni);
  if (const auto& peer = p.peer) {
    if (peer->handshake_done)
      line(out, "TLS",
           peer->version + " " + peer->cipher + ", group " +
               (peer->group.empty() ? "(none)" : peer->group));
    if (!peer->chain.empty()) out << "certificate chain (as sent by the server, leaf first):\n";
    for (std::size_t i = 0; i < peer->chain.size(); ++i) {
      const tls::CertificateInfo& c = peer->chain[i];
      out << "  [" << i << "] subject      " << c.subject << "\n"
          << "      issuer       " << c.issuer << "\n"
          << "      validity     " << c.not_before << " to " << c.not_after << "\n";
      if (!c.subject_alt_names.empty())
        out << "      names        " << join(c.subject_alt_names) << "\n";
      out << "      key          " << c.key << ", signed " << c.signature << "\n"
          << "      serial       " << c.serial << "\n"
          << "      spki sha256  " << c.spki_sha256 << "\n"
          << "      cert sha256  " << c.cert_sha256 << "\n";
    }
  }
  if (!p.auth_mechanisms.empty()) line(out, "AUTH", join(p.auth_mechanisms));
  if (oc.dns) line(out, "DNS", dns_summary(*oc.dns));
  if (oc.dane_source != "none" && !oc.tlsa.empty()) line(out, "DANE", dane_summary(oc));
  if (!p.smtp_note.empty()) line(out, "note", p.smtp_note);
  if (!p.peer || !p.peer->handshake_done) return;  // the error line follows on stderr
  std::string verdict;
  if (oc.verified) {
    verdict = "yes (" + oc.method;
    if (p.peer->matched_tlsa)
      verdict += ": TLSA " + p.peer->matched_tlsa->to_text() +
                 " matched the certificate at depth " + std::to_string(p.peer->matched_depth);
    else
      verdict += ": trusted chain, names " + o.reference_name;
    verdict += ")";
  } else {
    verdict = "NO: " + oc.failure;
  }
  line(out, "verified", verdict);
}

std::string to_json(const Options& o, const Outcome& oc) {
  const ProbeResult& p = oc.probe;
  json j;
  j["target"] = {{"host", o.host},
                 {"port", o.port},
                 {"mode", mode_name(o.start)},
                 {"sni", or_null(o.sni)},
                 {"reference_name", o.reference_name}};
  j["address"] = or_null(p.address);
  j["smtp"] = {{"greeting", or_null(p.greeting)},
               {"starttls_offered", p.starttls_offered ? json(*p.starttls_offered) : json()},
               {"auth_mechanisms", p.auth_mechanisms},
               {"note", or_null(p.smtp_note)}};
  j["tls"] = nullptr;
  j["chain"] = json::array();
  if (p.peer && p.peer->handshake_done)
    j["tls"] = {{"version", p.peer->version},
                {"cipher", p.peer->cipher},
                {"group", or_null(p.peer->group)}};
  if (p.peer) {
    for (const tls::CertificateInfo& c : p.peer->chain)
      j["chain"].push_back({{"subject", c.subject},
                            {"issuer", c.issuer},
                            {"serial", c.serial},
                            {"not_before", c.not_before},
                            {"not_after", c.not_after},
                            {"subject_alt_names", c.subject_alt_names},
                            {"key", c.key},
                            {"signature", c.signature},
                            {"spki_sha256", c.spki_sha256},
                            {"cert_sha256", c.cert_sha256}});
  }
  bool failed_in_chain = p.peer && !p.peer->verified && p.peer->error_depth >= 0;
  j["verification"] = {{"verified", oc.verified},
                       {"method", or_null(oc.method)},
                       {"error", or_null(oc.failure)},
                       {"error_depth", failed_in_chain ? json(p.peer->error_depth) : json()}};
  json records = json::array();
  for (const tls::Tlsa& r : oc.tlsa) records.push_back(r.to_text());
  json dane = {{"source", oc.dane_source},
               {"records", records},
               {"usable", p.setup.tlsa_usable},
               {"ignored", p.setup.tlsa_ignored},
               {"matched", nullptr},
               {"matched_depth", nullptr},
               {"dns", nullptr}};
  if (p.peer && p.peer->matched_tlsa) {
    dane["matched"] = p.peer->matched_tlsa->to_text();
    dane["matched_depth"] = p.peer->matched_depth;
  }
  if (oc.dns)
    dane["dns"] = {{"qname", oc.dns->qname},         {"security", or_null(oc.dns->security)},
                   {"status", oc.dns->status},       {"detail", or_null(oc.dns->detail)},
                   {"malformed", oc.dns->malformed}, {"addresses", oc.dns->addresses}};
  j["dane"] = dane;
  j["exit_code"] = oc.exit_code;
  j["error"] = or_null(oc.error);
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace sealpost::cli::tls_check
