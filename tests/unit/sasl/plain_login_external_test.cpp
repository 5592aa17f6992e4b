// PLAIN (RFC 4616), LOGIN (draft) and EXTERNAL (RFC 4422 App. A) server mechanisms, and the
// factory.
#include <gtest/gtest.h>

#include "sasl/mechanism.hpp"

namespace sealpost::sasl {
namespace {

using namespace std::string_literals;

std::unique_ptr<ServerMechanism> make(std::string_view name, MechanismContext context = {}) {
  auto mech = make_server_mechanism(name, context);
  EXPECT_NE(mech, nullptr) << name;
  return mech;
}

void expect_failure(const Step& step, Failure failure) {
  EXPECT_EQ(step.status, Status::kFailure);
  EXPECT_EQ(step.failure, failure) << step.reason;
  EXPECT_FALSE(step.reason.empty());
}

TEST(Factory, NamesAreCaseInsensitiveAndUnknownIsNull) {
  MechanismContext context;
  EXPECT_EQ(make_server_mechanism("plain", context)->name(), "PLAIN");
  EXPECT_EQ(make_server_mechanism("Login", context)->name(), "LOGIN");
  EXPECT_EQ(make_server_mechanism("external", context)->name(), "EXTERNAL");
  EXPECT_EQ(make_server_mechanism("scram-sha-256", context)->name(), "SCRAM-SHA-256");
  EXPECT_EQ(make_server_mechanism("SCRAM-SHA-256-plus", context)->name(), "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(make_server_mechanism("CRAM-MD5", context), nullptr);
  EXPECT_EQ(make_server_mechanism("", context), nullptr);
  EXPECT_EQ(make_server_mechanism("PLAINX", context), nullptr);
}

TEST(Factory, AvailableMechanismsFollowTheContext) {
  MechanismContext context;
  EXPECT_EQ(available_server_mechanisms(context),
            (std::vector<std::string_view>{"PLAIN", "LOGIN"}));
  struct NoUsers : CredentialLookup {
    std::optional<ScramCredentials> scram_sha256(std::string_view) const override { return {}; }
  } lookup;
  context.lookup = &lookup;
  context.tls_exporter = std::string(32, 'x');
  context.external_identity = "alice";
  EXPECT_EQ(available_server_mechanisms(context),
            (std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "EXTERNAL",
                                           "PLAIN", "LOGIN"}));
}

TEST(Plain, WithoutAuthzid) {
  auto mech = make("PLAIN");
  Step step = mech->start("\0tim\0tanstaaftanstaaf"s);
  EXPECT_EQ(step.status, Status::kVerifyPassword);
  EXPECT_EQ(mech->identity().authcid, "tim");
  EXPECT_EQ(mech->identity().authzid, "");
  EXPECT_EQ(mech->identity().password, "tanstaaftanstaaf");
  mech->clear_password();
  EXPECT_EQ(mech->identity().password, "");
  expect_failure(mech->step("more"), Failure::kMalformed);
}

TEST(Plain, WithAuthzid) {
  auto mech = make("PLAIN");
  Step step = mech->start("Ursel\0Kurt\0xipj3plmq"s);  // RFC 4616 §4 example
  EXPECT_EQ(step.status, Status::kVerifyPassword);
  EXPECT_EQ(mech->identity().authzid, "Ursel");
  EXPECT_EQ(mech->identity().authcid, "Kurt");
  EXPECT_EQ(mech->identity().password, "xipj3plmq");
}

TEST(Plain, WithoutInitialResponseSendsEmptyChallenge) {
  auto mech = make("PLAIN");
  Step step = mech->start(std::nullopt);
  EXPECT_EQ(step.status, Status::kChallenge);
  EXPECT_EQ(step.data, "");
  EXPECT_EQ(mech->step("\0bob\0secret"s).status, Status::kVerifyPassword);
  EXPECT_EQ(mech->identity().authcid, "bob");
}

TEST(Plain, Malformed) {
  for (const std::string& bad : {
           ""s,                                               // empty initial response
           "timtanstaaf"s,                                    // no NUL
           "\0timtanstaaf"s,                                  // one NUL
           "a\0b\0c\0d"s,                                     // three NULs
           "\0\0secret"s,                                     // empty authcid
           "\0tim\0"s,                                        // empty password
           "\0tim\0pass\nword"s,                              // control in password
           "\0ti\rm\0password"s,                              // control in authcid
           "x\x01y\0tim\0password"s,                          // control in authzid
           "\0t\xffm\0password"s,                             // not UTF-8
           "\0"s + std::string(256, 'a') + "\0pw"s,           // authcid over 255 octets
           "\0tim\0"s + std::string(kMaxResponseBytes, 'p'),  // over the response limit
       }) {
    auto mech = make("PLAIN");
    expect_failure(mech->start(bad), Failure::kMalformed);
    EXPECT_EQ(mech->identity().password, "");
  }
}

TEST(Login, Flow) {
  auto mech = make("LOGIN");
  Step step = mech->start(std::nullopt);
  EXPECT_EQ(step.status, Status::kChallenge);
  EXPECT_EQ(step.data, "Username:");
  step = mech->step("alice");
  EXPECT_EQ(step.status, Status::kChallenge);
  EXPECT_EQ(step.data, "Password:");
  step = mech->step("wonderland");
  EXPECT_EQ(step.status, Status::kVerifyPassword);
  EXPECT_EQ(mech->identity().authcid, "alice");
  EXPECT_EQ(mech->identity().authzid, "");
  EXPECT_EQ(mech->identity().password, "wonderland");
  expect_failure(mech->step("again"), Failure::kMalformed);
}

TEST(Login, InitialResponseIsTheUsername) {
  auto mech = make("LOGIN");
  Step step = mech->start("alice");
  EXPECT_EQ(step.status, Status::kChallenge);
  EXPECT_EQ(step.data, "Password:");
  EXPECT_EQ(mech->step("pw").status, Status::kVerifyPassword);
  EXPECT_EQ(mech->identity().authcid, "alice");
}

TEST(Login, Malformed) {
  expect_failure(make("LOGIN")->start(""), Failure::kMalformed);
  expect_failure(make("LOGIN")->start("a\0b"s), Failure::kMalformed);
  auto mech = make("LOGIN");
  mech->start("alice");
  expect_failure(mech->step(""), Failure::kMalformed);
  mech = make("LOGIN");
  mech->start(std::nullopt);
  expect_failure(mech->step(std::string(256, 'u')), Failure::kMalformed);
  mech = make("LOGIN");
  mech->start(std::nullopt);
  mech->step("alice");
  expect_failure(mech->step(std::string(kMaxPasswordBytes + 1, 'p')), Failure::kMalformed);
}

TEST(External, EmptyAuthzidUsesTlsIdentity) {
  MechanismContext context;
  context.external_identity = "alice";
  auto mech = make("EXTERNAL", context);
  Step step = mech->start("");
  EXPECT_EQ(step.status, Status::kSuccess);
  EXPECT_EQ(mech->identity().authcid, "alice");
  EXPECT_EQ(mech->identity().authzid, "");
}

TEST(External, MatchingAuthzidAfterEmptyChallenge) {
  MechanismContext context;
  context.external_identity = "alice";
  auto mech = make("EXTERNAL", context);
  Step step = mech->start(std::nullopt);
  EXPECT_EQ(step.status, Status::kChallenge);
  EXPECT_EQ(step.data, "");
  EXPECT_EQ(mech->step("alice").status, Status::kSuccess);
  EXPECT_EQ(mech->identity().authzid, "alice");
}

TEST(External, MismatchAndMissingIdentity) {
  MechanismContext context;
  context.external_identity = "alice";
  auto mech = make("EXTERNAL", context);
  expect_failure(mech->start("bob"), Failure::kAuthzidRefused);
  EXPECT_EQ(mech->identity().authzid, "bob");  // for the log
  expect_failure(make("EXTERNAL", context)->start("al\0ice"s), Failure::kMalformed);
  expect_failure(make("EXTERNAL")->start(""), Failure::kUnavailable);
}

}  // namespace
}  // namespace sealpost::sasl
