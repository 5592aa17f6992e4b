// Round trips through the built `sealpost user` commands (SEALPOST_CLI): add, list, passwd,
// cert, del, and their sysexits(3) statuses, checked against the file they write.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

#include "auth/credential_store.hpp"
#include "auth/password_hash.hpp"
#include "test_util.hpp"

namespace sealpost::auth {
namespace {

namespace fs = std::filesystem;
using test::slurp;
using test::spit;
using test::TempDir;

struct Outcome {
  int status = -1;
  std::string out, err;
};

class UserCli : public ::testing::Test {
 protected:
  fs::path users() const { return dir_.path() / "state" / "users"; }

  // Runs `sealpost --state-dir DIR/state ARGS` with `input` on stdin and no terminal.
  Outcome run(const std::string& args, const std::string& input = "",
              const std::string& global = "") {
    spit(dir_.path() / "in", input);
    std::string command =
        "setsid " + std::string(SEALPOST_CLI) + " " +
        (global.empty() ? "--state-dir '" + (dir_.path() / "state").string() + "'" : global) + " " +
        args + " <'" + (dir_.path() / "in").string() + "' >'" + (dir_.path() / "out").string() +
        "' 2>'" + (dir_.path() / "err").string() + "'";
    int raw = std::system(command.c_str());
    Outcome r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    r.out = slurp(dir_.path() / "out");
    r.err = slurp(dir_.path() / "err");
    return r;
  }

  User user(const std::string& name) {
    CredentialStore store(users());
    store.load();
    auto u = store.lookup(name);
    EXPECT_TRUE(u) << name;
    return u ? *u : User{};
  }

  TempDir dir_;
};

TEST_F(UserCli, AddListPasswdDel) {
  Outcome r =
      run("user add alice@example.org --alias sales@example.org --alias a@example.net "
          "--password-stdin",
          "first secret\n");
  ASSERT_EQ(r.status, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(users().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  User alice = user("alice@example.org");
  EXPECT_TRUE(verify_password("first secret", alice.password_hash));
  EXPECT_FALSE(verify_password("first secret\n", alice.password_hash));
  ASSERT_TRUE(alice.scram.has_value());
  EXPECT_EQ(alice.scram->iterations, 100000u);  // accounts.scram_iterations default
  EXPECT_EQ(alice.aliases, (std::vector<std::string>{"sales@example.org", "a@example.net"}));
  EXPECT_FALSE(alice.authz_any);

  EXPECT_EQ(run("user add alice@EXAMPLE.org --password-stdin", "x\n").status, 65);
  ASSERT_EQ(run("user add admin --authz-any --password-stdin", "admin pw").status, 0);
  EXPECT_TRUE(user("admin").authz_any);
  EXPECT_TRUE(verify_password("admin pw", user("admin").password_hash));  // no newline: fine

  // Comments added by hand survive the edits below.
  spit(users(), "# hand-written comment\n" + slurp(users()));

  r = run("user list");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "alice@example.org alias=sales@example.org,a@example.net\nadmin authz=*\n");
  EXPECT_EQ(r.out.find("$y$"), std::string::npos);
  r = run("user list --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("{\"name\":\"admin\",\"locked\":false,\"aliases\":[],"
                       "\"authz_any\":true,\"certificates\":[],\"scram_iterations\":100000}"),
            std::string::npos)
      << r.out;

  r = run("user passwd alice@example.org --password-stdin", "second secret\n");
  ASSERT_EQ(r.status, 0) << r.err;
  alice = user("alice@example.org");
  EXPECT_TRUE(verify_password("second secret", alice.password_hash));
  EXPECT_FALSE(verify_password("first secret", alice.password_hash));
  EXPECT_EQ(alice.aliases.size(), 2u);  // kept
  EXPECT_EQ(run("user passwd nobody@example.org --password-stdin", "x\n").status, 67);

  std::string digest(64, 'e');
  ASSERT_EQ(run("user cert alice@example.org sha256:" + digest).status, 0);
  EXPECT_EQ(user("alice@example.org").certificates, std::vector<std::string>{digest});
  EXPECT_EQ(run("user cert admin " + digest).status, 65);  // already alice's
  EXPECT_EQ(run("user cert alice@example.org nothex").status, 65);
  EXPECT_EQ(run("user cert alice@example.org").status, 64);
  ASSERT_EQ(run("user cert alice@example.org --none").status, 0);
  EXPECT_TRUE(user("alice@example.org").certificates.empty());

  ASSERT_EQ(run("user del admin").status, 0);
  EXPECT_EQ(run("user del admin").status, 67);
  std::string text = slurp(users());
  EXPECT_TRUE(text.starts_with("# hand-written comment\nalice@example.org $y$")) << text;
  EXPECT_EQ(text.find("admin"), std::string::npos);
}

TEST_F(UserCli, RefusesBadInput) {
  EXPECT_EQ(run("user add alice@example.org --password-stdin", "\n").status, 65);  // empty
  EXPECT_EQ(run("user add alice@example.org --password-stdin", "a\rb\n").status, 65);
  EXPECT_EQ(run("user add 'two words' --password-stdin", "pw\n").status, 65);
  EXPECT_EQ(run("user add bad@ --password-stdin", "pw\n").status, 65);
  EXPECT_EQ(run("user add alice@example.org --alias nope --password-stdin", "pw\n").status, 65);
  EXPECT_EQ(run("user add alice@example.org --no-such-flag").status, 64);
  EXPECT_EQ(run("user frobnicate").status, 64);
  // No terminal (setsid) and no --password-stdin: a usage error, nothing written.
  Outcome r = run("user add alice@example.org");
  EXPECT_EQ(r.status, 64);
  EXPECT_NE(r.err.find("--password-stdin"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(users()));
}

TEST_F(UserCli, ConfigWithoutAccountsFileIsAConfigError) {
  fs::path config = dir_.path() / "sealpost.toml";
  spit(config, "[[listen]]\naddress = \"127.0.0.1:2525\"\ntls = \"none\"\nrole = \"mx\"\n");
  Outcome r = run("user list", "", "--config '" + config.string() + "'");
  EXPECT_EQ(r.status, 78);
  EXPECT_NE(r.err.find("accounts.file"), std::string::npos) << r.err;

  spit(config, slurp(config) + "[accounts]\nfile = \"creds\"\nscram_iterations = 4096\n");
  r = run("user add bob --password-stdin", "pw\n", "--config '" + config.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  CredentialStore store(dir_.path() / "creds");
  store.load();
  auto bob = store.lookup("bob");
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->scram->iterations, 4096u);
}

TEST_F(UserCli, CertFromPemFile) {
  fs::path pem = dir_.path() / "client.pem";
  std::string make =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
      "-subj /CN=client -days 1 -keyout '" +
      (dir_.path() / "key.pem").string() + "' -out '" + pem.string() + "' >/dev/null 2>&1";
  if (std::system(make.c_str()) != 0) GTEST_SKIP() << "no openssl command";
  std::string fingerprint = "openssl x509 -noout -fingerprint -sha256 -in '" + pem.string() +
                            "' > '" + (dir_.path() / "fp").string() + "'";
  ASSERT_EQ(std::system(fingerprint.c_str()), 0);
  std::string fp = slurp(dir_.path() / "fp");  // "SHA256 Fingerprint=AB:CD:...\n"
  auto digest = normalize_certificate_digest(fp.substr(fp.find('=') + 1, 95));
  ASSERT_TRUE(digest.has_value()) << fp;

  ASSERT_EQ(run("user add carol@example.org --password-stdin", "pw\n").status, 0);
  Outcome r = run("user cert carol@example.org --file '" + pem.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  CredentialStore store(users());
  store.load();
  auto carol = store.user_for_certificate(*digest);
  ASSERT_TRUE(carol);
  EXPECT_EQ(carol->name, "carol@example.org");
}

}  // namespace
}  // namespace sealpost::auth
