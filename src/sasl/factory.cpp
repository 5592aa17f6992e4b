// Mechanism registry: make_server_mechanism() by case-insensitive name (RFC 4422 §3.1), the
// list a context can offer, and the ServerMechanism base members.
#include <cctype>

#include "sasl/external.hpp"
#include "sasl/login.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/plain.hpp"
#include "sasl/scram.hpp"
#include "sasl/scram_keys.hpp"

namespace sealpost::sasl {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) != static_cast<unsigned char>(b[i])) {
      return false;
    }
  }
  return true;
}

}  // namespace

ServerMechanism::~ServerMechanism() = default;

void ServerMechanism::clear_password() { cleanse(identity_.password); }

std::unique_ptr<ServerMechanism> make_server_mechanism(std::string_view name,
                                                       const MechanismContext& context) {
  if (iequals(name, "PLAIN")) return std::make_unique<PlainMechanism>();
  if (iequals(name, "LOGIN")) return std::make_unique<LoginMechanism>();
  if (iequals(name, "EXTERNAL"))
    return std::make_unique<ExternalMechanism>(context.external_identity);
  if (iequals(name, "SCRAM-SHA-256")) return std::make_unique<ScramSha256Mechanism>(context, false);
  if (iequals(name, "SCRAM-SHA-256-PLUS")) {
    return std::make_unique<ScramSha256Mechanism>(context, true);
  }
  return nullptr;
}

std::vector<std::string_view> available_server_mechanisms(const MechanismContext& context) {
  std::vector<std::string_view> names;
  if (context.lookup != nullptr && context.tls_exporter.size() == 32) {
    names.push_back("SCRAM-SHA-256-PLUS");
  }
  if (context.lookup != nullptr) names.push_back("SCRAM-SHA-256");
  if (!context.external_identity.empty()) names.push_back("EXTERNAL");
  names.push_back("PLAIN");
  names.push_back("LOGIN");
  return names;
}

}  // namespace sealpost::sasl
