// libFuzzer target for src/sasl: every server mechanism (PLAIN, LOGIN, EXTERNAL, SCRAM-SHA-256,
// SCRAM-SHA-256-PLUS) gets start() plus several step()s of fuzzed responses; the same responses
// go to the client mechanisms as challenges, and to base64/saslname as round-trip checks.
// Input layout: [selector] then responses separated by 0xFE (a byte UTF-8 never contains).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sasl/base64.hpp"
#include "sasl/client_mechanism.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/saslprep.hpp"
#include "sasl/scram_keys.hpp"
#include "sasl/scram_message.hpp"

namespace {

using namespace sealpost::sasl;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant violated: %s: %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

class Lookup final : public CredentialLookup {
 public:
  Lookup() {
    // RFC 7677 §3 user, so seeds built from the RFC exchange reach the success path.
    users_["user"] =
        *make_scram_credentials("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  }
  std::optional<ScramCredentials> scram_sha256(std::string_view authcid) const override {
    auto it = users_.find(std::string(authcid));
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, ScramCredentials> users_;
};

constexpr std::string_view kMechanisms[] = {"PLAIN", "LOGIN", "EXTERNAL", "SCRAM-SHA-256",
                                            "SCRAM-SHA-256-PLUS"};

void check_identity(const Identity& id) {
  if (!id.authcid.empty() && !acceptable_sasl_string(id.authcid, kMaxNameBytes)) {
    fail("authcid escaped validation", id.authcid);
  }
  if (!id.authzid.empty() && !acceptable_sasl_string(id.authzid, kMaxNameBytes)) {
    fail("authzid escaped validation", id.authzid);
  }
}

void check_step(const Step& step, std::string_view mech, const MechanismContext& context,
                const ServerMechanism& server) {
  if ((step.status == Status::kFailure) != (step.failure != Failure::kNone)) {
    fail("failure kind does not match status", step.reason);
  }
  if (step.status == Status::kFailure && step.reason.empty()) fail("failure without reason");
  if (step.data.size() > 1024) fail("oversized challenge", step.data);
  const Identity& id = server.identity();
  check_identity(id);
  if (step.status == Status::kVerifyPassword) {
    if (mech != "PLAIN" && mech != "LOGIN") fail("kVerifyPassword from", mech);
    if (id.authcid.empty() || !acceptable_sasl_string(id.password, kMaxPasswordBytes)) {
      fail("kVerifyPassword without a usable identity", id.authcid);
    }
  }
  if (step.status == Status::kSuccess) {
    if (mech == "PLAIN" || mech == "LOGIN") fail("password mechanism succeeded by itself");
    if (mech == "EXTERNAL" && (id.authcid != context.external_identity ||
                               (!id.authzid.empty() && id.authzid != context.external_identity))) {
      fail("EXTERNAL accepted a foreign authzid", id.authzid);
    }
    if (mech.starts_with("SCRAM") && id.authcid != "user") fail("SCRAM success for", id.authcid);
  }
}

void run_server(std::string_view mech, const MechanismContext& context, bool with_ir,
                const std::vector<std::string_view>& responses) {
  auto server = make_server_mechanism(mech, context);
  if (!server) fail("factory refused", mech);
  std::size_t next = 0;
  std::optional<std::string_view> ir;
  if (with_ir && next < responses.size()) ir = responses[next++];
  Step step = server->start(ir);
  check_step(step, mech, context, *server);
  bool finished = step.status != Status::kChallenge;
  for (; next < responses.size(); ++next) {
    step = server->step(responses[next]);
    check_step(step, mech, context, *server);
    // Once an exchange has ended, nothing may revive it (RFC 4422 §3.4).
    if (finished && step.status != Status::kFailure) fail("step after the end did not fail");
    finished = finished || step.status != Status::kChallenge;
  }
  server->clear_password();
  if (!server->identity().password.empty()) fail("password not cleared");
}

void run_client(std::string_view mech, bool plus_data, const std::vector<std::string_view>& in) {
  ClientContext context;
  context.authcid = "user";
  context.password = "pencil";
  context.client_nonce = "rOprNGfwEbeRWgbNEkqO";
  if (plus_data) context.tls_exporter = std::string(32, 'E');
  auto client = make_client_mechanism(mech, context);
  if (!client) return;  // -PLUS without exporter
  client->initial_response();
  for (std::string_view challenge : in) {
    // Keep executions fast: a fuzzed server-first may ask for millions of PBKDF2 rounds.
    auto first = scram::parse_server_first(challenge);
    if (first.value && first.value->iterations > 8192) return;
    if (client->step(challenge).status == ClientStatus::kFailure) return;
  }
}

void check_codecs(std::string_view text) {
  if (auto decoded = base64_decode(text)) {
    if (base64_encode(*decoded) != text) fail("base64 accepted a non-canonical form", text);
  }
  if (base64_decode(base64_encode(text)) != text) fail("base64 round trip", text);
  if (auto name = scram::decode_saslname(text)) {
    if (scram::decode_saslname(scram::encode_saslname(*name)) != *name) fail("saslname", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1 || size > 8192) return 0;
  const std::uint8_t selector = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<std::string_view> responses;
  for (std::size_t begin = 0;;) {
    const std::size_t end = input.find('\xfe', begin);
    responses.push_back(input.substr(begin, end - begin));
    if (end == std::string_view::npos || responses.size() == 8) break;
    begin = end + 1;
  }

  static const Lookup lookup;
  MechanismContext context;
  context.lookup = &lookup;
  context.server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
  context.fake_salt_secret = "fuzz secret";
  if (selector & 0x10) context.tls_exporter = std::string(32, 'E');
  if (selector & 0x20) context.external_identity = "user";
  const bool with_ir = selector & 0x40;

  // Every mechanism sees every input: the parsers share helpers, and a crash in one is cheap
  // to find when all run. The selector only varies the context.
  for (std::string_view mech : kMechanisms) run_server(mech, context, with_ir, responses);
  run_client(kMechanisms[selector % 5], selector & 0x10, responses);
  for (std::string_view r : responses) check_codecs(r);
  return 0;
}
