// The credentials file (docs/credentials-format.md): one user per line, parsed strictly with
// line numbers in errors, and edited line by line so that comments and lines this version
// cannot parse survive a rewrite. Also the atomic writer (temp file, fsync, rename, fsync dir).
// Leaves live reloading to credential_store.hpp and hashing to password_hash.hpp.
#pragma once

#include <expected>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/scram_secrets.hpp"

namespace sealpost::auth {

struct User {
  std::string name;           // the login (authcid), normally an email address, as written
  std::string password_hash;  // crypt(3) string: $y$, $7$ or $argon2..$; "*" or "!..." = locked
  std::optional<ScramSecrets> scram;      // absent: SCRAM-SHA-256 is not possible for this user
  std::vector<std::string> aliases;       // further MAIL FROM addresses the user may use
  bool authz_any = false;                 // may act as any other user (authzid != authcid)
  std::vector<std::string> certificates;  // lower-case hex SHA-256 of DER client certificates

  // A locked account logs in by no mechanism at all (PLAIN, SCRAM or EXTERNAL).
  bool locked() const;
};

struct ParseError {
  int line = 0;  // 1-based
  std::string message;
};

// Thrown when the file cannot be read or written (not for bad lines: those are ParseErrors).
class CredentialError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr std::size_t kMaxNameLength = 320;  // RFC 5321 4.5.3.1: 64 + "@" + 255

// The lookup key: the domain (after the last '@') lower-cased, the local part as written
// (RFC 5321 2.4: only the domain is case-insensitive by rule).
std::string normalize_name(std::string_view name);

// "sha256:HEX" or bare HEX, 64 digits, with or without ':' between byte pairs (as printed by
// `openssl x509 -fingerprint -sha256`). Returns lower-case hex without separators.
std::optional<std::string> normalize_certificate_digest(std::string_view text);

// Checks an alias or a login that contains '@': one '@', non-empty local part and domain, no
// spaces, commas or control characters.
bool is_plausible_address(std::string_view address);

std::expected<User, std::string> parse_user_line(std::string_view line);
std::string format_user_line(const User& user);

class CredentialFile {
 public:
  static CredentialFile parse(std::string_view text);
  // A missing file reads as empty. Throws CredentialError when the file cannot be read.
  static CredentialFile read(const std::filesystem::path& path);

  // Bad lines: reported here, skipped as users, kept verbatim in text().
  const std::vector<ParseError>& errors() const { return errors_; }
  std::vector<User> users() const;
  const User* find(std::string_view name) const;

  bool add(User user);             // false if the name (normalised) exists
  bool replace(const User& user);  // by normalised name; false if absent
  bool remove(std::string_view name);

  std::string text() const;

 private:
  struct Line {
    std::string text;
    std::optional<User> user;
  };
  std::vector<Line> lines_;
  std::vector<ParseError> errors_;
};

// Replaces `path` with `content` so that readers see either the old or the new file, never a
// mix, and a crash leaves at most a stray temporary (".NAME.tmp.*", which nothing reads).
// Keeps the mode and, where permitted, the owner of an existing file; new files get 0600.
// Throws CredentialError.
void write_file_atomically(const std::filesystem::path& path, std::string_view content);

// Serialises read-modify-write cycles of concurrent `sealpost user` runs: flock(2) on
// "PATH.lock" (the file itself is replaced by rename, so it cannot carry the lock).
class EditLock {
 public:
  explicit EditLock(const std::filesystem::path& path);  // blocks; throws CredentialError
  ~EditLock();
  EditLock(const EditLock&) = delete;
  EditLock& operator=(const EditLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace sealpost::auth
