// Our client mechanisms talking to our server mechanisms, as `sealpost send` would talk to
// `sealpostd`: PLAIN, LOGIN, SCRAM-SHA-256 and SCRAM-SHA-256-PLUS, with and without initial
// response. Also the client's mechanism choice.
#include <gtest/gtest.h>

#include "sasl/client_mechanism.hpp"
#include "sasl/mechanism.hpp"
#include "scram_fixture.hpp"

namespace sealpost::sasl {
namespace {

using namespace sealpost::sasl::testing;

struct Outcome {
  Status status = Status::kFailure;
  Failure failure = Failure::kNone;
  bool client_complete = false;
  Identity identity;
};

// Drives one exchange; kVerifyPassword is answered by comparing with `stored_password`, as the
// auth worker would.
Outcome converse(std::string_view name, const MechanismContext& server_ctx,
                 const ClientContext& client_ctx, bool use_initial_response,
                 std::string_view stored_password) {
  auto server = make_server_mechanism(name, server_ctx);
  auto client = make_client_mechanism(name, client_ctx);
  EXPECT_NE(server, nullptr);
  EXPECT_NE(client, nullptr);
  Outcome out;
  if (!server || !client) return out;
  std::optional<std::string> ir = use_initial_response ? client->initial_response() : std::nullopt;
  Step step = server->start(ir ? std::optional<std::string_view>(*ir) : std::nullopt);
  for (int rounds = 0; step.status == Status::kChallenge && rounds < 10; ++rounds) {
    ClientStep reply = client->step(step.data);
    if (reply.status != ClientStatus::kRespond) {
      ADD_FAILURE() << "client: " << reply.reason;
      return out;
    }
    step = server->step(reply.data);
  }
  if (step.status == Status::kVerifyPassword) {
    const bool ok = server->identity().password == stored_password;
    server->clear_password();
    step.status = ok ? Status::kSuccess : Status::kFailure;
    if (!ok) step.failure = Failure::kBadCredentials;
  }
  out.status = step.status;
  out.failure = step.failure;
  out.client_complete = client->complete();
  out.identity = server->identity();
  return out;
}

ClientContext alice(std::string_view password = "pencil") {
  ClientContext context;
  context.authcid = "alice";
  context.password = password;
  context.client_nonce = "0123456789abcdefghijABCD";
  return context;
}

MechanismContext server_context(const MapLookup& lookup) {
  MechanismContext context;
  context.lookup = &lookup;
  context.server_nonce = "ZYXWVUTSRQPONMLKJIHGFEDCBA";
  context.fake_salt_secret = "secret";
  return context;
}

class ClientServer : public ::testing::TestWithParam<std::tuple<std::string, bool>> {
 protected:
  ClientServer() {
    lookup_.add("alice", "pencil", "sixteen-byte-salt");
    context_ = server_context(lookup_);
  }
  bool plus() const { return std::get<0>(GetParam()) == "SCRAM-SHA-256-PLUS"; }
  MapLookup lookup_;
  MechanismContext context_;
};

TEST_P(ClientServer, RightPasswordSucceeds) {
  const auto& [name, use_ir] = GetParam();
  ClientContext client_ctx = alice();
  if (plus()) context_.tls_exporter = client_ctx.tls_exporter = exporter();
  Outcome out = converse(name, context_, client_ctx, use_ir, "pencil");
  EXPECT_EQ(out.status, Status::kSuccess);
  EXPECT_TRUE(out.client_complete);
  EXPECT_EQ(out.identity.authcid, "alice");
  EXPECT_EQ(out.identity.password, "");
}

TEST_P(ClientServer, WrongPasswordFails) {
  const auto& [name, use_ir] = GetParam();
  ClientContext client_ctx = alice("pencil!");
  if (plus()) context_.tls_exporter = client_ctx.tls_exporter = exporter();
  Outcome out = converse(name, context_, client_ctx, use_ir, "pencil");
  EXPECT_EQ(out.status, Status::kFailure);
  EXPECT_EQ(out.failure, Failure::kBadCredentials);
}

INSTANTIATE_TEST_SUITE_P(Mechanisms, ClientServer,
                         ::testing::Combine(::testing::Values("PLAIN", "LOGIN", "SCRAM-SHA-256",
                                                              "SCRAM-SHA-256-PLUS"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string name = std::get<0>(info.param);
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name + (std::get<1>(info.param) ? "_IR" : "_NoIR");
                         });

TEST(ClientServerAuthzid, PlainAndScramCarryTheAuthzid) {
  MapLookup lookup;
  lookup.add("alice", "pencil", "sixteen-byte-salt");
  ClientContext client_ctx = alice();
  client_ctx.authzid = "shared,box=1";
  for (std::string_view name : {"PLAIN", "SCRAM-SHA-256"}) {
    Outcome out = converse(name, server_context(lookup), client_ctx, true, "pencil");
    EXPECT_EQ(out.status, Status::kSuccess) << name;
    EXPECT_EQ(out.identity.authcid, "alice");
    EXPECT_EQ(out.identity.authzid, "shared,box=1");
  }
  EXPECT_EQ(make_client_mechanism("LOGIN", client_ctx), nullptr);  // LOGIN has no authzid
}

TEST(ClientChoice, PrefersScramPlusThenScramThenPlain) {
  EXPECT_EQ(choose_client_mechanism("PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS", true),
            "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(choose_client_mechanism("PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS", false),
            "SCRAM-SHA-256");
  EXPECT_EQ(choose_client_mechanism("login plain", true), "PLAIN");
  EXPECT_EQ(choose_client_mechanism("LOGIN", false), "LOGIN");
  EXPECT_EQ(choose_client_mechanism("CRAM-MD5 GSSAPI", false), std::nullopt);
  EXPECT_EQ(choose_client_mechanism("", false), std::nullopt);
  EXPECT_EQ(choose_client_mechanism("SCRAM-SHA-256-PLUSX", true), std::nullopt);
}

TEST(ClientPlain, UnexpectedChallengesFail) {
  auto client = make_client_mechanism("PLAIN", alice());
  ASSERT_TRUE(client->initial_response());
  EXPECT_EQ(client->step("").status, ClientStatus::kFailure);
  client = make_client_mechanism("PLAIN", alice());
  EXPECT_EQ(client->step("nonempty").status, ClientStatus::kFailure);
}

TEST(ClientLogin, ThirdChallengeFails) {
  auto client = make_client_mechanism("LOGIN", alice());
  EXPECT_EQ(client->initial_response(), std::nullopt);
  EXPECT_EQ(client->step("Username:").data, "alice");
  EXPECT_EQ(client->step("Password:").data, "pencil");
  EXPECT_TRUE(client->complete());
  EXPECT_EQ(client->step("What?").status, ClientStatus::kFailure);
}

}  // namespace
}  // namespace sealpost::sasl
