// SCRAM-SHA-256(-PLUS) server and client against the RFC 7677 §3 vector, tampering, channel
// binding (RFC 5802 §6, RFC 9266) and unknown users.
#include <gtest/gtest.h>

#include "sasl/client_mechanism.hpp"
#include "sasl/mechanism.hpp"
#include "sasl/scram_keys.hpp"
#include "scram_fixture.hpp"

namespace sealpost::sasl {
namespace {

using namespace sealpost::sasl::testing;
using namespace std::string_literals;

void expect_failure(const Step& step, Failure failure) {
  EXPECT_EQ(step.status, Status::kFailure);
  EXPECT_EQ(step.failure, failure) << step.reason;
}

std::unique_ptr<ServerMechanism> server(const MechanismContext& context, bool plus = false) {
  return make_server_mechanism(plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", context);
}

ClientContext client_context(std::string_view password = "pencil") {
  ClientContext context;
  context.authcid = "user";
  context.password = password;
  context.client_nonce = kClientNonce;
  return context;
}

TEST(ScramServer, Rfc7677Vector) {
  auto mech = server(rfc7677_context());
  Step step = mech->start(kClientFirst);
  ASSERT_EQ(step.status, Status::kChallenge) << step.reason;
  EXPECT_EQ(step.data, kServerFirst);
  step = mech->step(kClientFinal);
  ASSERT_EQ(step.status, Status::kChallenge) << step.reason;
  EXPECT_EQ(step.data, kServerFinal);
  step = mech->step("");
  EXPECT_EQ(step.status, Status::kSuccess);
  EXPECT_EQ(mech->identity().authcid, "user");
  EXPECT_EQ(mech->identity().authzid, "");
  EXPECT_EQ(mech->identity().password, "");
  expect_failure(mech->step(""), Failure::kMalformed);
}

TEST(ScramClient, Rfc7677Vector) {
  auto client = make_client_mechanism("SCRAM-SHA-256", client_context());
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->initial_response(), kClientFirst);
  ClientStep step = client->step(kServerFirst);
  ASSERT_EQ(step.status, ClientStatus::kRespond) << step.reason;
  EXPECT_EQ(step.data, kClientFinal);
  EXPECT_FALSE(client->complete());
  step = client->step(kServerFinal);
  ASSERT_EQ(step.status, ClientStatus::kRespond) << step.reason;
  EXPECT_EQ(step.data, "");
  EXPECT_TRUE(client->complete());
}

TEST(ScramKeys, Rfc7677StoredAndServerKey) {
  auto keys = derive_scram_keys("pencil", *base64_decode(kSaltB64), 4096);
  ASSERT_TRUE(keys);
  EXPECT_EQ(as_view(keys->stored_key), as_view(sha256(as_view(keys->client_key))));
  auto credentials = make_scram_credentials("pencil", *base64_decode(kSaltB64), 4096);
  ASSERT_TRUE(credentials);
  EXPECT_EQ(credentials->stored_key, keys->stored_key);
  EXPECT_EQ(credentials->server_key, keys->server_key);
}

TEST(ScramServer, WithoutInitialResponseSendsEmptyChallenge) {
  auto mech = server(rfc7677_context());
  Step step = mech->start(std::nullopt);
  EXPECT_EQ(step.status, Status::kChallenge);
  EXPECT_EQ(step.data, "");
  EXPECT_EQ(mech->step(kClientFirst).data, kServerFirst);
}

TEST(ScramServer, WrongPasswordFails) {
  auto mech = server(rfc7677_context());
  auto client = make_client_mechanism("SCRAM-SHA-256", client_context("pencil2"));
  ASSERT_EQ(mech->start(*client->initial_response()).status, Status::kChallenge);
  ClientStep final_msg = client->step(kServerFirst);
  Step step = mech->step(final_msg.data);
  expect_failure(step, Failure::kBadCredentials);
  EXPECT_EQ(step.data, "e=invalid-proof");
  EXPECT_EQ(mech->identity().authcid, "user");  // for the log
}

TEST(ScramServer, TamperedNonceFails) {
  std::string tampered(kClientFinal);
  tampered[12] ^= 1;  // inside r=
  auto mech = server(rfc7677_context());
  mech->start(kClientFirst);
  expect_failure(mech->step(tampered), Failure::kMalformed);

  // A nonce that only repeats the client part, or extends ours, is refused too.
  mech = server(rfc7677_context());
  mech->start(kClientFirst);
  expect_failure(
      mech->step("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
      Failure::kMalformed);
}

TEST(ScramServer, TamperedProofFails) {
  std::string tampered(kClientFinal);
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  auto mech = server(rfc7677_context());
  mech->start(kClientFirst);
  expect_failure(mech->step(tampered), Failure::kBadCredentials);
}

TEST(ScramServer, ChannelBindingAttributeMustRepeatTheGs2Header) {
  auto mech = server(rfc7677_context());
  mech->start(kClientFirst);
  std::string tampered(kClientFinal);
  tampered.replace(0, 6, "c=eSws");  // "y,," instead of "n,,"
  expect_failure(mech->step(tampered), Failure::kChannelBinding);
}

TEST(ScramServer, MalformedClientFirst) {
  for (std::string_view bad : {
           "",                       // empty initial response
           "n,,n=user",              // no nonce
           "n,,r=abc,n=user",        // wrong order
           "x,,n=user,r=abc",        // bad flag
           "n,a=,n=user,r=abc",      // empty authzid
           "n,b=x,n=user,r=abc",     // not an authzid
           "n,,m=ext,n=user,r=abc",  // mandatory extension
           "n,,n=,r=abc",            // empty username
           "n,,n=us=2er,r=abc",      // bad escape
           "n,,n=us=,r=abc",         // truncated escape
           "n,,n=us\ner,r=abc",      // control character
           "n,,n=user,r=",           // empty nonce
           "n,,n=user,r=a b",        // non-printable nonce
           "n,,n=user,r=abc,r=def",  // repeated attribute
           "n,,n=user,r=abc,",       // trailing comma
           "n,,n=user,r=abc,1=x",    // extension name not ALPHA
           "p=,,n=user,r=abc",       // empty cb-name
       }) {
    auto mech = server(rfc7677_context());
    expect_failure(mech->start(bad), Failure::kMalformed);
  }
  auto mech = server(rfc7677_context());
  expect_failure(mech->start("n,,n=user,r=" + std::string(kMaxNonceBytes + 1, 'x')),
                 Failure::kMalformed);
  mech = server(rfc7677_context());
  expect_failure(mech->start("n,,n=user,r=" + std::string(kMaxResponseBytes, 'x')),
                 Failure::kMalformed);
}

TEST(ScramServer, OptionalExtensionIsIgnored) {
  auto mech = server(rfc7677_context());
  Step step = mech->start("n,,n=user,r=abcdefgh,x=future");
  EXPECT_EQ(step.status, Status::kChallenge) << step.reason;
}

TEST(ScramServer, MalformedClientFinal) {
  for (std::string_view bad : {
           "",
           "c=biws",
           "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",  // no proof
           "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,c=biws,p=AAAA",
           "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=not base64",
           "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AAAA",  // short proof
           "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,m=x,"
           "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
       }) {
    auto mech = server(rfc7677_context());
    mech->start(kClientFirst);
    expect_failure(mech->step(bad), Failure::kMalformed);
  }
}

TEST(ScramServer, AckMustBeEmpty) {
  auto mech = server(rfc7677_context());
  mech->start(kClientFirst);
  mech->step(kClientFinal);
  expect_failure(mech->step("x"), Failure::kMalformed);
}

TEST(ScramServer, UsernameEscapesAndAuthzid) {
  MapLookup lookup;
  lookup.add("a,b=c", "pw", "salt-bytes-16...");
  MechanismContext context = rfc7677_context();
  context.lookup = &lookup;
  auto mech = server(context);
  Step step = mech->start("n,a=boss=2C1,n=a=2Cb=3Dc,r=abcdefghijklmnopqrst");
  ASSERT_EQ(step.status, Status::kChallenge) << step.reason;
  EXPECT_EQ(lookup.last_lookup(), "a,b=c");
  EXPECT_EQ(mech->identity().authcid, "a,b=c");
  EXPECT_EQ(mech->identity().authzid, "boss,1");
}

TEST(ScramServer, UnknownUserGetsPlausibleDeterministicServerFirst) {
  const std::string client_first = "n,,n=mallory,r=abcdefghijklmnopqrst";
  auto first = server(rfc7677_context());
  Step step = first->start(client_first);
  ASSERT_EQ(step.status, Status::kChallenge) << step.reason;
  const std::string prefix = "r=abcdefghijklmnopqrst" + std::string(kServerNonce) + ",s=";
  ASSERT_EQ(step.data.substr(0, prefix.size()), prefix);
  const std::size_t i_pos = step.data.find(",i=");
  ASSERT_NE(i_pos, std::string::npos);
  auto salt = base64_decode(step.data.substr(prefix.size(), i_pos - prefix.size()));
  ASSERT_TRUE(salt);
  EXPECT_EQ(salt->size(), 16u);
  EXPECT_EQ(step.data.substr(i_pos), ",i=4096");

  // Same name, same secret: same salt (a probe cannot tell by repeating); other name: other salt.
  EXPECT_EQ(server(rfc7677_context())->start(client_first).data, step.data);
  EXPECT_NE(server(rfc7677_context())
                ->start("n,,n=eve,r=abcdefghijklmnopqrst")
                .data.substr(prefix.size()),
            step.data.substr(prefix.size()));
  MechanismContext other_secret = rfc7677_context();
  other_secret.fake_salt_secret = "another secret";
  EXPECT_NE(server(other_secret)->start(client_first).data, step.data);

  // A client answering with any password still fails, as a wrong password would.
  ClientContext client_ctx = client_context("whatever");
  client_ctx.authcid = "mallory";
  client_ctx.client_nonce = "abcdefghijklmnopqrst";
  auto client = make_client_mechanism("SCRAM-SHA-256", client_ctx);
  ASSERT_EQ(client->initial_response(), client_first);
  ClientStep final_msg = client->step(step.data);
  ASSERT_EQ(final_msg.status, ClientStatus::kRespond) << final_msg.reason;
  Step last = first->step(final_msg.data);
  expect_failure(last, Failure::kBadCredentials);
  EXPECT_EQ(last.data, "e=invalid-proof");
}

TEST(ScramServer, FakeIterationsFollowTheContext) {
  MechanismContext context = rfc7677_context();
  context.fake_iterations = 10000;
  Step step = server(context)->start("n,,n=nobody,r=abcdefghijklmnopqrst");
  EXPECT_EQ(step.data.substr(step.data.size() - 8), ",i=10000");
}

TEST(ScramServer, UnusableContextOrCredentials) {
  MechanismContext context = rfc7677_context();
  context.lookup = nullptr;
  expect_failure(server(context)->start(kClientFirst), Failure::kUnavailable);
  context = rfc7677_context();
  context.server_nonce = "short";
  expect_failure(server(context)->start(kClientFirst), Failure::kUnavailable);
  context.server_nonce = "has,a,comma,in,it,xxxxxxxxx";
  expect_failure(server(context)->start(kClientFirst), Failure::kUnavailable);

  MapLookup weak;
  weak.add("user", "pencil", "salt", 1000);  // below RFC 7677's 4096
  context = rfc7677_context();
  context.lookup = &weak;
  expect_failure(server(context)->start(kClientFirst), Failure::kUnavailable);
}

// --- Channel binding ------------------------------------------------------------------------

struct CbRun {
  Step first;
  Step last;
};

CbRun run_scram(const MechanismContext& server_ctx, bool server_plus,
                const ClientContext& client_ctx, bool client_plus) {
  auto mech = server(server_ctx, server_plus);
  auto client =
      make_client_mechanism(client_plus ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256", client_ctx);
  EXPECT_NE(client, nullptr);
  CbRun run;
  run.first = mech->start(*client->initial_response());
  if (run.first.status != Status::kChallenge) return run;
  ClientStep reply = client->step(run.first.data);
  EXPECT_EQ(reply.status, ClientStatus::kRespond) << reply.reason;
  run.last = mech->step(reply.data);
  if (run.last.status == Status::kChallenge) {
    EXPECT_EQ(client->step(run.last.data).status, ClientStatus::kRespond);
    EXPECT_TRUE(client->complete());
    run.last = mech->step("");
  }
  return run;
}

TEST(ScramPlus, CorrectExporterSucceeds) {
  MechanismContext server_ctx = rfc7677_context();
  server_ctx.tls_exporter = exporter('E');
  ClientContext client_ctx = client_context();
  client_ctx.tls_exporter = exporter('E');
  auto client = make_client_mechanism("SCRAM-SHA-256-PLUS", client_ctx);
  EXPECT_EQ(client->initial_response(), "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  CbRun run = run_scram(server_ctx, true, client_ctx, true);
  EXPECT_EQ(run.last.status, Status::kSuccess) << run.last.reason;
}

TEST(ScramPlus, WrongExporterFails) {
  MechanismContext server_ctx = rfc7677_context();
  server_ctx.tls_exporter = exporter('E');
  ClientContext client_ctx = client_context();
  client_ctx.tls_exporter = exporter('M');  // the client's TLS session is with a MITM
  CbRun run = run_scram(server_ctx, true, client_ctx, true);
  expect_failure(run.last, Failure::kChannelBinding);
  EXPECT_EQ(run.last.data, "e=channel-bindings-dont-match");
}

TEST(ScramPlus, YFlagWhilePlusIsOfferedIsADowngrade) {
  MechanismContext server_ctx = rfc7677_context();
  server_ctx.tls_exporter = exporter('E');
  ClientContext client_ctx = client_context();
  client_ctx.tls_exporter = exporter('E');  // client could bind, but uses the non-PLUS name
  auto client = make_client_mechanism("SCRAM-SHA-256", client_ctx);
  EXPECT_EQ(client->initial_response(), "y,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  CbRun run = run_scram(server_ctx, false, client_ctx, false);
  expect_failure(run.first, Failure::kChannelBinding);
}

TEST(ScramPlus, YFlagWithoutServerSupportIsFine) {
  ClientContext client_ctx = client_context();
  client_ctx.tls_exporter = exporter('E');
  CbRun run = run_scram(rfc7677_context(), false, client_ctx, false);
  EXPECT_EQ(run.last.status, Status::kSuccess) << run.last.reason;
}

TEST(ScramPlus, FlagAndNameMismatches) {
  MechanismContext server_ctx = rfc7677_context();
  server_ctx.tls_exporter = exporter('E');
  // -PLUS mechanism, but the client does not bind.
  expect_failure(server(server_ctx, true)->start(kClientFirst), Failure::kChannelBinding);
  // A cb-name other than tls-exporter (RFC 9266 is the TLS 1.3 binding).
  expect_failure(server(server_ctx, true)->start("p=tls-unique,,n=user,r=abcdefgh"),
                 Failure::kChannelBinding);
  // "p" on the non-PLUS mechanism.
  expect_failure(server(server_ctx, false)->start("p=tls-exporter,,n=user,r=abcdefgh"),
                 Failure::kChannelBinding);
  // -PLUS without TLS 1.3 exporter data.
  expect_failure(server(rfc7677_context(), true)->start(std::nullopt), Failure::kChannelBinding);
}

// --- Client-side checks ---------------------------------------------------------------------

TEST(ScramClient, RefusesBadServerFirst) {
  for (std::string_view bad : {
           "r=other%hvYDpWUa2RaTCAfuxFIlj,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // not our prefix
           "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",         // no server part
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000",      // too few iterations
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096",
           "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
           "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
       }) {
    auto client = make_client_mechanism("SCRAM-SHA-256", client_context());
    client->initial_response();
    EXPECT_EQ(client->step(bad).status, ClientStatus::kFailure) << bad;
    EXPECT_FALSE(client->complete());
  }
}

TEST(ScramClient, RefusesBadServerFinal) {
  for (std::string_view bad : {
           "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  // wrong signature
           "e=invalid-proof",
           "",
       }) {
    auto client = make_client_mechanism("SCRAM-SHA-256", client_context());
    client->initial_response();
    client->step(kServerFirst);
    EXPECT_EQ(client->step(bad).status, ClientStatus::kFailure) << bad;
    EXPECT_FALSE(client->complete());
  }
}

TEST(ScramClient, FactoryRefusesUnusableContext) {
  ClientContext context = client_context();
  context.client_nonce = "short";
  EXPECT_EQ(make_client_mechanism("SCRAM-SHA-256", context), nullptr);
  context = client_context();
  EXPECT_EQ(make_client_mechanism("SCRAM-SHA-256-PLUS", context), nullptr);  // no exporter
  context.password = "bad\npassword";
  EXPECT_EQ(make_client_mechanism("SCRAM-SHA-256", context), nullptr);
  EXPECT_EQ(make_client_mechanism("CRAM-MD5", client_context()), nullptr);
}

}  // namespace
}  // namespace sealpost::sasl
