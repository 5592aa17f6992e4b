// Shared SCRAM test fixtures: an in-memory credential lookup and the RFC 7677 §3 vector.
#pragma once

#include <map>
#include <string>

#include "sasl/base64.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/scram_keys.hpp"

namespace sealpost::sasl::testing {

inline constexpr std::string_view kClientNonce = "rOprNGfwEbeRWgbNEkqO";
inline constexpr std::string_view kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
inline constexpr std::string_view kSaltB64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
inline constexpr std::string_view kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
inline constexpr std::string_view kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
inline constexpr std::string_view kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
inline constexpr std::string_view kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

class MapLookup : public CredentialLookup {
 public:
  void add(const std::string& user, std::string_view password, std::string_view salt,
           std::uint32_t iterations = 4096) {
    users_[user] = *make_scram_credentials(password, salt, iterations);
  }
  void add_raw(const std::string& user, ScramCredentials credentials) {
    users_[user] = std::move(credentials);
  }
  std::optional<ScramCredentials> scram_sha256(std::string_view authcid) const override {
    last_lookup_ = authcid;
    auto it = users_.find(std::string(authcid));
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& last_lookup() const { return last_lookup_; }

 private:
  std::map<std::string, ScramCredentials> users_;
  mutable std::string last_lookup_;
};

// "user"/"pencil" with the RFC 7677 salt; a context with the RFC's server nonce part.
inline MapLookup& rfc7677_lookup() {
  static MapLookup lookup = [] {
    MapLookup l;
    l.add("user", "pencil", *base64_decode(kSaltB64));
    return l;
  }();
  return lookup;
}

inline MechanismContext rfc7677_context() {
  MechanismContext context;
  context.lookup = &rfc7677_lookup();
  context.server_nonce = kServerNonce;
  context.fake_salt_secret = "test secret";
  return context;
}

inline std::string exporter(char fill = 'E') { return std::string(32, fill); }

}  // namespace sealpost::sasl::testing
