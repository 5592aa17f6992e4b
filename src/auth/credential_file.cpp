// Parser, printer and editor for the credentials file, and its atomic writer. Format:
// docs/credentials-format.md. Every check names its line; the caller decides whether a bad
// line is fatal (never, for the daemon: it logs and skips it).
#include "auth/credential_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <unordered_map>

#include "auth/password_hash.hpp"

namespace sealpost::auth {

namespace {

namespace fs = std::filesystem;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Controls would let a name forge log lines or break the line format.
bool has_control(std::string_view s) {
  return std::ranges::any_of(s, [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t comma = s.find(',');
    parts.push_back(s.substr(0, comma));
    if (comma == std::string_view::npos) return parts;
    s.remove_prefix(comma + 1);
  }
}

bool is_comment_or_blank(std::string_view line) {
  std::size_t first = line.find_first_not_of(" \t");
  return first == std::string_view::npos || line[first] == '#';
}

std::string errno_text(int error) { return std::strerror(error); }

}  // namespace

bool User::locked() const { return classify_hash(password_hash) == HashKind::kLocked; }

std::string normalize_name(std::string_view name) {
  std::string out(name);
  std::size_t at = out.rfind('@');
  if (at == std::string::npos) return out;
  for (std::size_t i = at + 1; i < out.size(); ++i) {
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  }
  return out;
}

std::optional<std::string> normalize_certificate_digest(std::string_view text) {
  if (text.size() > 7 && std::equal(text.begin(), text.begin() + 7, "sha256:", [](char a, char b) {
        return std::tolower(a) == b;
      })) {
    text.remove_prefix(7);
  }
  std::string hex;
  for (char c : text) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (hex.size() != 64) return std::nullopt;
  return hex;
}

bool is_plausible_address(std::string_view address) {
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return false;
  if (address.size() > kMaxNameLength || has_control(address)) return false;
  return address.find_first_of(" \t,") == std::string_view::npos;
}

std::expected<User, std::string> parse_user_line(std::string_view line) {
  std::vector<std::string_view> fields = fields_of(line);
  if (fields.size() < 3) {
    return std::unexpected("expected NAME PASSWORD_HASH SCRAM [OPTIONS...], got " +
                           std::to_string(fields.size()) + " field(s)");
  }
  User user;
  user.name = fields[0];
  if (user.name.size() > kMaxNameLength) return std::unexpected("name is too long");
  if (has_control(user.name)) return std::unexpected("name contains a control character");
  if (user.name.find('@') != std::string::npos && !is_plausible_address(user.name)) {
    return std::unexpected("name \"" + user.name + "\" is not a valid address");
  }

  user.password_hash = fields[1];
  if (classify_hash(user.password_hash) == HashKind::kUnsupported) {
    // Weak schemes (DES, MD5, SHA-crypt, bcrypt) are refused, not accepted with a warning.
    return std::unexpected(
        "unsupported password hash (expected yescrypt \"$y$\", scrypt \"$7$\", argon2, or a "
        "locked \"!\"/\"*\")");
  }

  if (fields[2] != "-") {
    auto scram = parse_scram_secrets(fields[2]);
    if (!scram) return std::unexpected(scram.error());
    user.scram = std::move(*scram);
  }

  bool seen_alias = false, seen_authz = false, seen_cert = false;
  for (std::size_t i = 3; i < fields.size(); ++i) {
    std::string_view option = fields[i];
    std::size_t eq = option.find('=');
    std::string_view key = option.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? "" : option.substr(eq + 1);
    if (eq == std::string_view::npos || value.empty()) {
      return std::unexpected("option \"" + std::string(option) + "\" needs KEY=VALUE");
    }
    if (key == "alias") {
      if (seen_alias) return std::unexpected("alias= given twice");
      seen_alias = true;
      for (std::string_view alias : split_commas(value)) {
        if (!is_plausible_address(alias)) {
          return std::unexpected("alias \"" + std::string(alias) + "\" is not an address");
        }
        user.aliases.emplace_back(alias);
      }
    } else if (key == "authz") {
      if (seen_authz) return std::unexpected("authz= given twice");
      seen_authz = true;
      if (value != "*") return std::unexpected("authz= takes only \"*\"");
      user.authz_any = true;
    } else if (key == "cert") {
      if (seen_cert) return std::unexpected("cert= given twice");
      seen_cert = true;
      for (std::string_view cert : split_commas(value)) {
        auto digest = normalize_certificate_digest(cert);
        if (!digest || !cert.starts_with("sha256:")) {
          return std::unexpected("cert \"" + std::string(cert) +
                                 "\" is not sha256: and 64 hex digits");
        }
        user.certificates.push_back(std::move(*digest));
      }
    } else {
      return std::unexpected("unknown option \"" + std::string(key) +
                             "\" (expected alias, authz or cert)");
    }
  }
  return user;
}

std::string format_user_line(const User& user) {
  std::string out = user.name + " " + user.password_hash + " " +
                    (user.scram ? format_scram_secrets(*user.scram) : std::string("-"));
  if (!user.aliases.empty()) {
    out += " alias=";
    for (std::size_t i = 0; i < user.aliases.size(); ++i) {
      out += (i ? "," : "") + user.aliases[i];
    }
  }
  if (user.authz_any) out += " authz=*";
  if (!user.certificates.empty()) {
    out += " cert=";
    for (std::size_t i = 0; i < user.certificates.size(); ++i) {
      out += (i ? ",sha256:" : "sha256:") + user.certificates[i];
    }
  }
  return out;
}

CredentialFile CredentialFile::parse(std::string_view text) {
  CredentialFile file;
  std::unordered_map<std::string, int> names;  // normalised name -> line
  std::unordered_map<std::string, int> certs;  // digest -> line
  int number = 0;
  while (!text.empty()) {
    std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++number;
    Line entry{std::string(line), std::nullopt};
    if (!is_comment_or_blank(line)) {
      auto user = parse_user_line(line);
      std::string problem;
      if (!user) {
        problem = user.error();
      } else if (auto it = names.find(normalize_name(user->name)); it != names.end()) {
        // Two lines for one login would make the effective password depend on file order.
        problem =
            "user \"" + user->name + "\" is already defined on line " + std::to_string(it->second);
      } else {
        for (const std::string& cert : user->certificates) {
          if (auto c = certs.find(cert); c != certs.end()) {
            problem = "certificate sha256:" + cert + " is already mapped on line " +
                      std::to_string(c->second);
          }
        }
      }
      if (problem.empty()) {
        names.emplace(normalize_name(user->name), number);
        for (const std::string& cert : user->certificates) certs.emplace(cert, number);
        entry.user = std::move(*user);
      } else {
        file.errors_.push_back({number, std::move(problem)});
      }
    }
    file.lines_.push_back(std::move(entry));
  }
  return file;
}

CredentialFile CredentialFile::read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!fs::exists(path, ec) && !ec) return CredentialFile{};
    throw CredentialError(path.string() + ": cannot open the file");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw CredentialError(path.string() + ": cannot read the file");
  return parse(text.str());
}

std::vector<User> CredentialFile::users() const {
  std::vector<User> out;
  for (const Line& line : lines_) {
    if (line.user) out.push_back(*line.user);
  }
  return out;
}

const User* CredentialFile::find(std::string_view name) const {
  std::string key = normalize_name(name);
  for (const Line& line : lines_) {
    if (line.user && normalize_name(line.user->name) == key) return &*line.user;
  }
  return nullptr;
}

bool CredentialFile::add(User user) {
  if (find(user.name)) return false;
  lines_.push_back({format_user_line(user), std::move(user)});
  return true;
}

bool CredentialFile::replace(const User& user) {
  std::string key = normalize_name(user.name);
  for (Line& line : lines_) {
    if (line.user && normalize_name(line.user->name) == key) {
      line = {format_user_line(user), user};
      return true;
    }
  }
  return false;
}

bool CredentialFile::remove(std::string_view name) {
  std::string key = normalize_name(name);
  auto it = std::ranges::find_if(lines_, [&](const Line& line) {
    return line.user && normalize_name(line.user->name) == key;
  });
  if (it == lines_.end()) return false;
  lines_.erase(it);
  return true;
}

std::string CredentialFile::text() const {
  std::string out;
  for (const Line& line : lines_) out += line.text + "\n";
  return out;
}

void write_file_atomically(const fs::path& path, std::string_view content) {
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  mode_t mode = 0600;
  struct stat old {};
  bool existed = ::stat(path.c_str(), &old) == 0;
  if (existed) mode = old.st_mode & 07777;

  std::random_device random;
  fs::path temp = dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid()) +
                         "." + std::to_string(random()));
  int fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) throw CredentialError(temp.string() + ": cannot create: " + errno_text(errno));
  auto fail = [&](const std::string& what) {
    int error = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    throw CredentialError(temp.string() + ": " + what + ": " + errno_text(error));
  };
  // The daemon (another user, perhaps) must still read a file root rewrote; EPERM when not
  // root is expected and harmless (the file then belongs to whoever edits it).
  if (existed && (::fchown(fd, old.st_uid, old.st_gid) != 0 && errno != EPERM)) fail("fchown");
  if (::fchmod(fd, mode) != 0) fail("fchmod");  // explicit: the umask must not widen or narrow
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0) fail("fsync");
  if (::close(fd) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    throw CredentialError(temp.string() + ": close: " + errno_text(error));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    throw CredentialError(path.string() + ": rename: " + errno_text(error));
  }
  // The rename is durable only once the directory entry is.
  int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0 || ::fsync(dir_fd) != 0) {
    int error = errno;
    if (dir_fd >= 0) ::close(dir_fd);
    throw CredentialError(dir.string() + ": fsync: " + errno_text(error));
  }
  ::close(dir_fd);
}

EditLock::EditLock(const fs::path& path) {
  fs::path lock = path.string() + ".lock";
  fd_ = ::open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) throw CredentialError(lock.string() + ": cannot open: " + errno_text(errno));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int error = errno;
    ::close(fd_);
    throw CredentialError(lock.string() + ": flock: " + errno_text(error));
  }
}

EditLock::~EditLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace sealpost::auth
