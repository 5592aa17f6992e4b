// Client TLS setup and the post-handshake report. Verification is OpenSSL's: X509_verify_cert
// for PKIX with X509_check_host/ip (RFC 6125), and its DANE engine for TLSA (RFC 7671). We add
// the RFC 7672 choices (usages 0/1 ignored, DANE-EE without name or expiry checks) and record
// the depth of a failure, which OpenSSL forgets once the handshake is over.
#include "tls/client_verify.hpp"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include <charconv>
#include <cstdint>
#include <ctime>
#include <memory>

namespace sealpost::tls {

namespace {

std::string openssl_error(std::string_view fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string to_hex(const unsigned char* data, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Certificate text reaches terminals and JSON: control bytes are shown as \xNN.
std::string printable(const unsigned char* data, int size) {
  std::string out;
  for (int i = 0; i < size; ++i) {
    unsigned char c = data[i];
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += to_hex(&c, 1);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// The depth of the first verification failure lives in the SSL's ex_data (depth + 1; null =
// none): X509_STORE_CTX is gone after the handshake and SSL_get_verify_result has no depth.
int depth_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int record_error_depth(int ok, X509_STORE_CTX* store) {
  if (ok == 1) return ok;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl != nullptr && SSL_get_ex_data(ssl, depth_index()) == nullptr) {
    intptr_t depth = X509_STORE_CTX_get_error_depth(store) + 1;
    SSL_set_ex_data(ssl, depth_index(), reinterpret_cast<void*>(depth));
  }
  return ok;  // enforce or not is the verify mode's business, not ours
}

std::string name_text(const X509_NAME* name) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  // RFC 2253 order and escaping, but UTF-8 shown as is rather than as \XX escapes.
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return printable(reinterpret_cast<const unsigned char*>(data), static_cast<int>(size));
}

std::string time_text(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return "";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string general_name_text(const GENERAL_NAME* name) {
  auto string_of = [](const ASN1_STRING* s) {
    return printable(ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
  };
  switch (name->type) {
    case GEN_DNS:
      return "DNS:" + string_of(name->d.dNSName);
    case GEN_EMAIL:
      return "email:" + string_of(name->d.rfc822Name);
    case GEN_URI:
      return "URI:" + string_of(name->d.uniformResourceIdentifier);
    case GEN_IPADD: {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      char buf[INET6_ADDRSTRLEN] = {};
      int len = ASN1_STRING_length(ip);
      int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
      if (family == 0 || inet_ntop(family, ASN1_STRING_get0_data(ip), buf, sizeof buf) == nullptr)
        return "IP:?";
      return std::string("IP:") + buf;
    }
    default:
      return "other";
  }
}

std::string key_text(X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr) return "unknown";
  const char* type = EVP_PKEY_get0_type_name(key);
  std::string out = type != nullptr ? type : "unknown";
  out += " " + std::to_string(EVP_PKEY_get_bits(key));
  char group[64];
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) out += " " + std::string(group);
  ERR_clear_error();
  return out;
}

std::string group_name(SSL* ssl) {
  int nid = SSL_get_negotiated_group(ssl);
  if (nid == 0 || nid == NID_undef) return "";
  // The IANA TLS Supported Groups name ("x25519", "secp256r1"), else OpenSSL's short name.
  if (const char* name = SSL_group_to_name(ssl, nid)) return name;
  if ((nid & TLSEXT_nid_unknown) == 0) {
    if (const char* name = OBJ_nid2sn(nid)) return name;
  }
  return "unknown(" + std::to_string(nid & 0xffff) + ")";
}

}  // namespace

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::expected<Tlsa, std::string> parse_tlsa(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t start = text.find_first_not_of(" \t", pos);
    if (start == std::string_view::npos) break;
    std::size_t end = text.find_first_of(" \t", start);
    if (end == std::string_view::npos) end = text.size();
    fields.push_back(text.substr(start, end - start));
    pos = end;
  }
  if (fields.size() < 4)
    return std::unexpected("TLSA record must be \"USAGE SELECTOR MATCHING-TYPE HEX\"");
  std::uint8_t numbers[3];
  static constexpr const char* kNames[] = {"usage", "selector", "matching type"};
  for (int i = 0; i < 3; ++i) {
    std::string_view f = fields[i];
    auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), numbers[i]);
    if (ec != std::errc() || end != f.data() + f.size())
      return std::unexpected(std::string("TLSA ") + kNames[i] + " must be 0-255, not \"" +
                             std::string(f) + "\"");
  }
  Tlsa record{numbers[0], numbers[1], numbers[2], {}};
  std::string digits;
  for (std::size_t i = 3; i < fields.size(); ++i) digits += fields[i];
  if (digits.size() % 2 != 0) return std::unexpected("TLSA data: odd number of hex digits");
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    int hi = hex_value(digits[i]);
    int lo = hex_value(digits[i + 1]);
    if (hi < 0 || lo < 0) return std::unexpected("TLSA data must be hexadecimal");
    record.data.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  std::size_t want = record.matching_type == 1 ? 32 : record.matching_type == 2 ? 64 : 0;
  if (want != 0 && record.data.size() != want)
    return std::unexpected("TLSA data for matching type " + std::to_string(record.matching_type) +
                           " must be " + std::to_string(want) + " bytes, not " +
                           std::to_string(record.data.size()));
  return record;
}

std::expected<SslCtxPtr, std::string> make_client_context(const ClientOptions& options) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return std::unexpected(openssl_error("SSL_CTX_new failed"));
  // RFC 8996 retires TLS 1.0/1.1; RFC 8314 §4.1 and RFC 9325 ask for 1.2 or later.
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  int loaded = options.ca_file.empty()
                   ? SSL_CTX_set_default_verify_paths(ctx.get())
                   : SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    std::string where = options.ca_file.empty() ? "" : " from " + options.ca_file;
    return std::unexpected("cannot load CA certificates" + where + ": " +
                           openssl_error("unknown error"));
  }
  if (SSL_CTX_dane_enable(ctx.get()) <= 0)
    return std::unexpected(openssl_error("SSL_CTX_dane_enable failed"));
  depth_index();  // allocate the ex_data slot before any handshake needs it
  SSL_CTX_set_verify(ctx.get(), options.enforce ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                     record_error_depth);
  return ctx;
}

std::expected<PeerSetup, std::string> configure_peer(SSL* ssl, const PeerReference& peer) {
  ERR_clear_error();
  if (!peer.sni.empty()) {
    if (is_ip_literal(peer.sni))
      return std::unexpected("an IP address cannot be sent as SNI (RFC 6066 §3)");
    if (SSL_set_tlsext_host_name(ssl, peer.sni.c_str()) != 1)
      return std::unexpected("invalid SNI name \"" + peer.sni + "\"");
  }
  PeerSetup setup;
  std::vector<const Tlsa*> dane_records;
  for (const Tlsa& r : peer.tlsa) {
    // RFC 7672 §3.1.3: PKIX-TA(0) and PKIX-EE(1) are not for SMTP; treat them as unusable.
    if (r.usage == 2 || r.usage == 3) {
      dane_records.push_back(&r);
    } else {
      ++setup.tlsa_ignored;
    }
  }
  if (!dane_records.empty()) {
    if (peer.name.empty()) return std::unexpected("DANE needs a reference name");
    if (SSL_dane_enable(ssl, peer.name.c_str()) <= 0)
      return std::unexpected(openssl_error("SSL_dane_enable failed"));
    // SSL_dane_enable makes the base domain the SNI when none was set: undo that.
    if (peer.sni.empty()) SSL_set_tlsext_host_name(ssl, nullptr);
    // RFC 7672 §3.1.1: a DANE-EE match authenticates the key; names and dates do not matter.
    SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    for (const Tlsa* r : dane_records) {
      // > 0 added; 0 unsupported (e.g. an unknown matching type); < 0 malformed. Either of
      // the latter is an unusable record (RFC 7671 §4.1), not an error.
      int rc = SSL_dane_tlsa_add(ssl, r->usage, r->selector, r->matching_type, r->data.data(),
                                 r->data.size());
      if (rc > 0) {
        ++setup.tlsa_usable;
      } else {
        ++setup.tlsa_ignored;
      }
    }
    ERR_clear_error();
    setup.dane = setup.tlsa_usable > 0;
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (is_ip_literal(peer.name)) {
    X509_VERIFY_PARAM_set1_host(param, nullptr, 0);  // drop SSL_dane_enable's base domain
    if (X509_VERIFY_PARAM_set1_ip_asc(param, peer.name.c_str()) != 1)
      return std::unexpected("invalid IP address " + peer.name);
  } else if (!peer.name.empty()) {
    // RFC 6125 §6.4.3: a wildcard only as the whole left-most label.
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(ssl, peer.name.c_str()) != 1)
      return std::unexpected("invalid host name \"" + peer.name + "\"");
  }
  return setup;
}

CertificateInfo describe_certificate(X509* cert) {
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(cert));
  info.issuer = name_text(X509_get_issuer_name(cert));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(bn)) {
      info.serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(bn);
  }
  info.not_before = time_text(X509_get0_notBefore(cert));
  info.not_after = time_text(X509_get0_notAfter(cert));
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i)
      info.subject_alt_names.push_back(general_name_text(sk_GENERAL_NAME_value(names, i)));
    GENERAL_NAMES_free(names);
  }
  info.key = key_text(cert);
  int sig = X509_get_signature_nid(cert);
  info.signature = sig != NID_undef ? OBJ_nid2ln(sig) : "unknown";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  unsigned char* der = nullptr;
  int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  if (len > 0 &&
      EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr) == 1)
    info.spki_sha256 = to_hex(md, md_len);
  OPENSSL_free(der);
  if (X509_digest(cert, EVP_sha256(), md, &md_len) == 1) info.cert_sha256 = to_hex(md, md_len);
  ERR_clear_error();
  return info;
}

PeerResult examine_peer(SSL* ssl) {
  PeerResult r;
  r.handshake_done = SSL_is_init_finished(ssl) == 1;
  if (r.handshake_done) {
    r.version = SSL_get_version(ssl);
    if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl))
      r.cipher = SSL_CIPHER_get_name(cipher);
    r.group = group_name(ssl);
  }
  // On the client side this chain starts with the leaf; it is kept even if verification
  // aborted the handshake, so a refused peer can still be described.
  if (STACK_OF(X509)* sent = SSL_get_peer_cert_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(sent); ++i)
      r.chain.push_back(describe_certificate(sk_X509_value(sent, i)));
  }
  r.verify_error = SSL_get_verify_result(ssl);
  auto depth = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, depth_index()));
  if (r.verify_error != X509_V_OK) {
    r.reason = X509_verify_cert_error_string(r.verify_error);
    r.error_depth = depth > 0 ? static_cast<int>(depth - 1) : -1;
  } else if (SSL_get0_peer_certificate(ssl) == nullptr) {
    // X509_V_OK also means "nothing verified yet"; an enforced failure keeps no peer
    // certificate either, but then the verify result above says why.
    r.reason = "no certificate received";
  } else if (r.handshake_done) {
    r.verified = true;
    std::uint8_t usage = 0, selector = 0, mtype = 0;
    const unsigned char* data = nullptr;
    std::size_t size = 0;
    int matched = SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data, &size);
    if (matched >= 0) {
      r.method = usage == 3 ? "dane-ee" : "dane-ta";
      r.matched_tlsa = Tlsa{usage, selector, mtype, std::vector<std::uint8_t>(data, data + size)};
      r.matched_depth = matched;
    } else {
      r.method = "pkix";
    }
  }
  return r;
}

}  // namespace sealpost::tls
