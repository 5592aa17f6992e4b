// The daemon's live view of the credentials file: an immutable snapshot (Users) shared by all
// threads, replaced whole when `refresh()` sees the file change, so `sealpost user` edits
// apply without a restart and a lookup never sees half a file. Leaves verifying passwords to
// password_hash.hpp and SASL to src/sasl.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/credential_file.hpp"

namespace sealpost::auth {

// One parsed file. Immutable once built; share it through std::shared_ptr<const Users>.
class Users {
 public:
  Users() = default;
  explicit Users(std::vector<User> users);  // names and certificates already unique

  // Case-insensitive on the domain part only (normalize_name). Locked users are returned too:
  // check User::locked() before accepting any mechanism.
  const User* find(std::string_view name) const;
  // `sha256` as normalize_certificate_digest accepts it.
  const User* find_by_certificate(std::string_view sha256) const;
  std::size_t size() const { return users_.size(); }
  const std::vector<User>& all() const { return users_; }

 private:
  std::vector<User> users_;
  std::unordered_map<std::string, std::size_t> by_name_;
  std::unordered_map<std::string, std::size_t> by_certificate_;
};

// MAIL FROM policy (RFC 6409 6.1): `address` (no angle brackets) is the user's own name, if
// that is an address, or one of its aliases; local part exact, domain case-insensitive. The
// null reverse-path is the caller's decision and returns false here.
bool may_send_as(const User& user, std::string_view address);

// SASL authorization identity: empty or the user's own name always; another name only with
// authz=* (and the caller still checks that the target user exists and is not locked).
bool may_act_as(const User& user, std::string_view authzid);

class CredentialStore {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` paces refresh(); default std::chrono::steady_clock::now.
  explicit CredentialStore(std::filesystem::path path, Clock clock = {});

  // Reads the file now. Throws CredentialError if it cannot be opened (a missing file is an
  // error here: the operator named it). Bad lines are logged and skipped.
  void load();

  // At most once per second (by the clock), stats the file (device, inode, size, mtime and
  // ctime in ns) and reloads it when any differs. Returns true when a new snapshot was
  // installed. If the file has vanished or cannot be read, keeps the last good snapshot and
  // logs an error. Thread-safe and cheap when nothing changed; call it before each AUTH.
  bool refresh();

  std::shared_ptr<const Users> users() const;

  // These keep their snapshot alive for as long as the returned pointer lives.
  std::shared_ptr<const User> lookup(std::string_view name) const;
  std::shared_ptr<const User> user_for_certificate(std::string_view sha256) const;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Identity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    bool operator==(const Identity&) const = default;
  };

  void reload_locked(bool throw_on_error);

  std::filesystem::path path_;
  Clock clock_;
  mutable std::mutex snapshot_mutex_;  // guards users_ only (a pointer copy)
  std::shared_ptr<const Users> users_;
  std::mutex reload_mutex_;  // one reload at a time; guards the members below
  Identity identity_;
  std::chrono::steady_clock::time_point last_check_{};
  bool checked_once_ = false;
  bool reported_missing_ = false;
};

}  // namespace sealpost::auth
