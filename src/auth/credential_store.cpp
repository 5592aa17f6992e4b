// Snapshot loading and change detection for the credentials file. A reload builds a new
// Users off to the side and swaps one pointer, so sessions mid-lookup keep the old one.
#include "auth/credential_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

namespace sealpost::auth {

namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kRefreshInterval{1};

std::int64_t nanoseconds(const timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

Users::Users(std::vector<User> users) : users_(std::move(users)) {
  for (std::size_t i = 0; i < users_.size(); ++i) {
    by_name_.emplace(normalize_name(users_[i].name), i);
    for (const std::string& cert : users_[i].certificates) by_certificate_.emplace(cert, i);
  }
}

const User* Users::find(std::string_view name) const {
  auto it = by_name_.find(normalize_name(name));
  return it == by_name_.end() ? nullptr : &users_[it->second];
}

const User* Users::find_by_certificate(std::string_view sha256) const {
  auto digest = normalize_certificate_digest(sha256);
  if (!digest) return nullptr;
  auto it = by_certificate_.find(*digest);
  return it == by_certificate_.end() ? nullptr : &users_[it->second];
}

bool may_send_as(const User& user, std::string_view address) {
  if (address.empty()) return false;
  std::string wanted = normalize_name(address);
  if (user.name.find('@') != std::string::npos && normalize_name(user.name) == wanted) return true;
  for (const std::string& alias : user.aliases) {
    if (normalize_name(alias) == wanted) return true;
  }
  return false;
}

bool may_act_as(const User& user, std::string_view authzid) {
  if (authzid.empty() || normalize_name(authzid) == normalize_name(user.name)) return true;
  return user.authz_any;
}

CredentialStore::CredentialStore(fs::path path, Clock clock)
    : path_(std::move(path)),
      clock_(clock ? std::move(clock) : Clock(&std::chrono::steady_clock::now)),
      users_(std::make_shared<const Users>()) {}

void CredentialStore::load() {
  std::lock_guard lock(reload_mutex_);
  last_check_ = clock_();
  checked_once_ = true;
  reload_locked(true);
}

bool CredentialStore::refresh() {
  // Another thread is already checking: its result serves this caller too.
  std::unique_lock lock(reload_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  auto now = clock_();
  if (checked_once_ && now - last_check_ < kRefreshInterval) return false;
  last_check_ = now;
  checked_once_ = true;

  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (!reported_missing_) {
      spdlog::error("auth: {}: {}; keeping the {} user(s) loaded before", path_.string(),
                    std::strerror(errno), users()->size());
      reported_missing_ = true;
    }
    return false;
  }
  Identity now_identity{st.st_dev, st.st_ino, st.st_size, nanoseconds(st.st_mtim),
                        nanoseconds(st.st_ctim)};
  if (now_identity == identity_) return false;
  Identity before = identity_;
  reload_locked(false);
  return !(identity_ == before);
}

void CredentialStore::reload_locked(bool throw_on_error) {
  // Read through one descriptor and take the identity from it, so the snapshot and the
  // identity describe the same file even if a rename lands in between.
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  std::string text;
  bool ok = fd >= 0 && ::fstat(fd, &st) == 0;
  if (ok) {
    char buffer[16384];
    while (true) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) ok = false;
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
  }
  int error = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) {
    std::string message = path_.string() + ": cannot read: " + std::strerror(error);
    if (throw_on_error) throw CredentialError(message);
    if (!reported_missing_) {  // once per outage, not once per second
      spdlog::error("auth: {}; keeping the {} user(s) loaded before", message, users()->size());
      reported_missing_ = true;
    }
    return;
  }
  reported_missing_ = false;
  // Hashes and SCRAM keys allow offline guessing; nobody but the server should read them.
  if (st.st_mode & S_IROTH) {
    spdlog::warn("auth: {} is world-readable; chmod o-r it", path_.string());
  }

  CredentialFile file = CredentialFile::parse(text);
  for (const ParseError& e : file.errors()) {
    spdlog::warn("auth: {}:{}: {}; line skipped", path_.string(), e.line, e.message);
  }
  auto users = std::make_shared<const Users>(file.users());
  spdlog::info("auth: loaded {} user(s) from {}", users->size(), path_.string());
  identity_ = {st.st_dev, st.st_ino, st.st_size, nanoseconds(st.st_mtim), nanoseconds(st.st_ctim)};
  std::lock_guard lock(snapshot_mutex_);
  users_ = std::move(users);
}

std::shared_ptr<const Users> CredentialStore::users() const {
  std::lock_guard lock(snapshot_mutex_);
  return users_;
}

std::shared_ptr<const User> CredentialStore::lookup(std::string_view name) const {
  std::shared_ptr<const Users> snapshot = users();
  const User* user = snapshot->find(name);
  // Aliasing constructor: shares ownership of the whole snapshot, points at one user.
  return user ? std::shared_ptr<const User>(snapshot, user) : nullptr;
}

std::shared_ptr<const User> CredentialStore::user_for_certificate(std::string_view sha256) const {
  std::shared_ptr<const Users> snapshot = users();
  const User* user = snapshot->find_by_certificate(sha256);
  return user ? std::shared_ptr<const User>(snapshot, user) : nullptr;
}

}  // namespace sealpost::auth
