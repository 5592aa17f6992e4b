// Tests for credential_file: the line format (good and bad lines, with their numbers), the
// editor that keeps comments and unparseable lines, and the atomic writer.
#include "auth/credential_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.hpp"

namespace sealpost::auth {
namespace {

namespace fs = std::filesystem;
using test::slurp;
using test::spit;
using test::TempDir;

constexpr std::string_view kHash =
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$rPeawue/nS.5CE6nTU9GpACAbn46u5ZGm.W6wf1Q.RD";
constexpr std::string_view kScram =
    "SCRAM-SHA-256:4096:W22ZaJ0SNY7soEsUEjb6gQ==:WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
const std::string kCert(64, 'a');

std::string line(std::string_view name, std::string_view rest = "") {
  std::string out = std::string(name) + " " + std::string(kHash) + " " + std::string(kScram);
  if (!rest.empty()) out += " " + std::string(rest);
  return out;
}

TEST(CredentialFile, ParsesAFullLine) {
  auto user = parse_user_line(line("alice@Example.org",
                                   "alias=a@example.org,b@x.net authz=* "
                                   "cert=sha256:" +
                                       kCert));
  ASSERT_TRUE(user.has_value()) << user.error();
  EXPECT_EQ(user->name, "alice@Example.org");
  EXPECT_EQ(user->password_hash, kHash);
  ASSERT_TRUE(user->scram.has_value());
  EXPECT_EQ(user->scram->iterations, 4096u);
  EXPECT_EQ(user->aliases, (std::vector<std::string>{"a@example.org", "b@x.net"}));
  EXPECT_TRUE(user->authz_any);
  EXPECT_EQ(user->certificates, std::vector<std::string>{kCert});
  EXPECT_FALSE(user->locked());
  EXPECT_EQ(format_user_line(*user), line("alice@Example.org",
                                          "alias=a@example.org,b@x.net "
                                          "authz=* cert=sha256:" +
                                              kCert));
}

TEST(CredentialFile, MinimalAndLockedLines) {
  auto user = parse_user_line("bob " + std::string(kHash) + " -");
  ASSERT_TRUE(user.has_value()) << user.error();
  EXPECT_FALSE(user->scram.has_value());
  EXPECT_EQ(format_user_line(*user), "bob " + std::string(kHash) + " -");
  auto locked = parse_user_line("carol@x.org\t!" + std::string(kHash) + "\t-");
  ASSERT_TRUE(locked.has_value()) << locked.error();
  EXPECT_TRUE(locked->locked());
  EXPECT_TRUE(parse_user_line("dave * -")->locked());
}

TEST(CredentialFile, RefusesBadLines) {
  struct Case {
    std::string text;
    std::string message_part;
  };
  Case cases[] = {
      {"alice", "field"},
      {"alice " + std::string(kHash), "field"},
      {"alice $6$saltsalt$abc -", "unsupported password hash"},
      {"alice plain -", "unsupported password hash"},
      {"alice " + std::string(kHash) + " SCRAM-SHA-256:10:x", "SCRAM"},
      {line("alice", "alias=notanaddress"), "alias"},
      {line("alice", "alias=a@x,"), "alias"},
      {line("alice", "authz=bob"), "authz"},
      {line("alice", "cert=" + kCert), "sha256:"},
      {line("alice", "cert=sha256:abc"), "sha256:"},
      {line("alice", "colour=blue"), "unknown option"},
      {line("alice", "authz"), "KEY=VALUE"},
      {line("alice", "alias=a@x alias=b@x"), "twice"},
      {line("@example.org"), "not a valid address"},
      {line("alice@"), "not a valid address"},
  };
  for (const Case& c : cases) {
    auto user = parse_user_line(c.text);
    ASSERT_FALSE(user.has_value()) << c.text;
    EXPECT_NE(user.error().find(c.message_part), std::string::npos) << user.error();
  }
}

TEST(CredentialFile, BadLinesAreReportedWithNumbersAndSkipped) {
  std::string text = "# users\n" + line("alice@example.org") + "\n\nbroken line\n" +
                     line("ALICE@example.org") + "\n" + line("alice@EXAMPLE.org") + "\n" +
                     line("bob@example.org", "cert=sha256:" + kCert) + "\n" +
                     line("carol@example.org", "cert=sha256:" + kCert) + "\n";
  CredentialFile file = CredentialFile::parse(text);
  ASSERT_EQ(file.errors().size(), 3u);
  EXPECT_EQ(file.errors()[0].line, 4);
  EXPECT_NE(file.errors()[0].message.find("field"), std::string::npos);
  EXPECT_EQ(file.errors()[1].line, 6);  // line 5 is a different user: local parts keep case
  EXPECT_NE(file.errors()[1].message.find("already defined on line 2"), std::string::npos);
  EXPECT_EQ(file.errors()[2].line, 8);
  EXPECT_NE(file.errors()[2].message.find("already mapped on line 7"), std::string::npos);
  std::vector<User> users = file.users();
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[0].name, "alice@example.org");
  EXPECT_EQ(users[1].name, "ALICE@example.org");
  EXPECT_EQ(users[2].name, "bob@example.org");
  EXPECT_EQ(file.text(), text);  // nothing lost
}

TEST(CredentialFile, EditsKeepCommentsAndUnknownLines) {
  std::string text = "# keep me\n" + line("alice@example.org") + "\nsomething from the future\n" +
                     "  # indented comment\n" + line("bob@example.org") + "\n";
  CredentialFile file = CredentialFile::parse(text);
  ASSERT_EQ(file.errors().size(), 1u);

  User carol = *parse_user_line(line("carol@example.org"));
  EXPECT_TRUE(file.add(carol));
  EXPECT_FALSE(file.add(carol));
  User alice = *file.find("alice@EXAMPLE.ORG");
  alice.aliases = {"al@example.org"};
  EXPECT_TRUE(file.replace(alice));
  EXPECT_TRUE(file.remove("bob@example.org"));
  EXPECT_FALSE(file.remove("bob@example.org"));

  EXPECT_EQ(file.text(), "# keep me\n" + line("alice@example.org", "alias=al@example.org") +
                             "\nsomething from the future\n  # indented comment\n" +
                             line("carol@example.org") + "\n");
}

TEST(CredentialFile, NormalisesNamesAndDigests) {
  EXPECT_EQ(normalize_name("Alice@Example.ORG"), "Alice@example.org");
  EXPECT_EQ(normalize_name("Alice"), "Alice");
  EXPECT_EQ(normalize_name("\"a@b\"@Example.org"), "\"a@b\"@example.org");
  std::string colons, plain;
  for (int i = 0; i < 32; ++i) {
    colons += (i ? ":" : "") + std::string("AB");
    plain += "ab";
  }
  EXPECT_EQ(normalize_certificate_digest(colons), plain);  // openssl x509 -fingerprint style
  EXPECT_EQ(normalize_certificate_digest("sha256:" + kCert), kCert);
  EXPECT_FALSE(normalize_certificate_digest("sha256:" + kCert + "a"));
  EXPECT_FALSE(normalize_certificate_digest(std::string(63, 'a') + "g"));
}

// docs/credentials-format.md's example must stay valid.
TEST(CredentialFile, DocumentedExampleParses) {
  std::string doc = slurp(fs::path(SEALPOST_SOURCE_DIR) / "docs" / "credentials-format.md");
  std::size_t begin = doc.find("```\n# Sealpost credentials");
  ASSERT_NE(begin, std::string::npos);
  begin += 4;
  std::size_t end = doc.find("```", begin);
  CredentialFile file = CredentialFile::parse(doc.substr(begin, end - begin));
  EXPECT_TRUE(file.errors().empty()) << file.errors()[0].line << ": " << file.errors()[0].message;
  std::vector<User> users = file.users();
  ASSERT_EQ(users.size(), 3u);
  EXPECT_EQ(users[0].aliases, std::vector<std::string>{"sales@example.org"});
  EXPECT_TRUE(users[1].authz_any);
  EXPECT_EQ(users[1].certificates.size(), 1u);
  EXPECT_TRUE(users[2].locked());
}

TEST(AtomicWrite, NewFileIs0600AndExistingModeIsKept) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  mode_t old_umask = ::umask(0);
  write_file_atomically(path, "one\n");
  ::umask(old_umask);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(slurp(path), "one\n");

  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  ino_t before = st.st_ino;
  write_file_atomically(path, "two\n");
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_NE(st.st_ino, before);  // replaced, not rewritten in place
  EXPECT_EQ(slurp(path), "two\n");
  // No temporary left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AtomicWrite, ACrashLeftoverTemporaryIsIgnored) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  spit(path, line("alice@example.org") + "\n");
  // What a crash between write and rename leaves: a half-written temporary.
  spit(dir.path() / ".users.tmp.123.456", line("mallory@example.org").substr(0, 20));
  CredentialFile file = CredentialFile::read(path);
  EXPECT_TRUE(file.errors().empty());
  ASSERT_EQ(file.users().size(), 1u);
  EXPECT_EQ(file.users()[0].name, "alice@example.org");
  write_file_atomically(path, file.text());  // a later write is not disturbed by it
  EXPECT_EQ(slurp(path), line("alice@example.org") + "\n");
}

TEST(AtomicWrite, MissingFileReadsAsEmptyAndBadDirectoryThrows) {
  TempDir dir;
  CredentialFile file = CredentialFile::read(dir.path() / "absent");
  EXPECT_TRUE(file.users().empty());
  EXPECT_EQ(file.text(), "");
  EXPECT_THROW(write_file_atomically(dir.path() / "no" / "such" / "dir", "x"), CredentialError);
}

TEST(EditLock, SerialisesEditors) {
  TempDir dir;
  fs::path path = dir.path() / "users";
  { EditLock lock(path); }
  EditLock again(path);  // reusable after release
  EXPECT_TRUE(fs::exists(dir.path() / "users.lock"));
}

}  // namespace
}  // namespace sealpost::auth
