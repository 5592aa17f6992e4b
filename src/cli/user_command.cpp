// The `sealpost user` subcommands: read-modify-write of the credentials file under an edit
// lock, never holding the lock while a human types. Passwords are wiped from memory after use
// on a best-effort basis; they never appear in output or in error messages.
#include "cli/user_command.hpp"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "auth/credential_file.hpp"
#include "auth/demo_user.hpp"
#include "auth/password_hash.hpp"

namespace sealpost::cli {

namespace {

namespace fs = std::filesystem;

constexpr int kExitUsage = 64;      // EX_USAGE
constexpr int kExitData = 65;       // EX_DATAERR
constexpr int kExitNoUser = 67;     // EX_NOUSER
constexpr int kExitCantCreat = 73;  // EX_CANTCREAT
constexpr int kExitConfig = 78;     // EX_CONFIG

// Thrown inside this file only; run() turns it into a message and an exit status.
struct Failure {
  int status;
  std::string message;
};

// Terminal state to restore if a signal arrives while echo is off.
int g_tty_fd = -1;
termios g_saved_tty{};

extern "C" void restore_tty_and_reraise(int signal) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSAFLUSH, &g_saved_tty);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string s) : value_(std::move(s)) {}
  Secret(Secret&& other) noexcept : value_(std::move(other.value_)) {}
  Secret& operator=(Secret&& other) noexcept {
    wipe();
    value_ = std::move(other.value_);
    return *this;
  }
  ~Secret() { wipe(); }
  const std::string& get() const { return value_; }

 private:
  void wipe() {
    if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
  }
  std::string value_;
};

// One line from the terminal with echo off (the prompt goes to the terminal, not stdout).
Secret read_tty_line(int fd, const std::string& prompt) {
  (void)!::write(fd, prompt.data(), prompt.size());
  termios tty{};
  bool is_tty = ::tcgetattr(fd, &tty) == 0;
  if (is_tty) {
    g_saved_tty = tty;
    g_tty_fd = fd;
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) std::signal(s, restore_tty_and_reraise);
    tty.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fd, TCSAFLUSH, &tty);
  }
  std::string line;
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    line += c;
  }
  if (is_tty) {
    ::tcsetattr(fd, TCSAFLUSH, &g_saved_tty);
    g_tty_fd = -1;
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) std::signal(s, SIG_DFL);
  }
  (void)!::write(fd, "\n", 1);
  Secret secret(std::move(line));
  return secret;
}

Secret read_password(const std::string& name, bool from_stdin, std::istream& in) {
  Secret password;
  if (from_stdin) {
    std::string line;
    if (!std::getline(in, line) && line.empty()) {
      throw Failure{kExitData, "no password on standard input"};
    }
    password = Secret(std::move(line));  // getline already dropped the trailing newline
  } else {
    int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      throw Failure{kExitUsage, "no terminal to ask for the password; use --password-stdin"};
    }
    Secret first = read_tty_line(fd, "New password for " + name + ": ");
    Secret second = read_tty_line(fd, "Retype the password: ");
    ::close(fd);
    if (first.get() != second.get()) throw Failure{kExitData, "the passwords do not match"};
    password = std::move(first);
  }
  if (auto problem = auth::password_problem(password.get())) throw Failure{kExitData, *problem};
  return password;
}

void check_name(const std::string& name) {
  if (name.empty() || name.size() > auth::kMaxNameLength || name.front() == '#' ||
      name.find_first_of(" \t") != std::string::npos ||
      std::ranges::any_of(name, [](char c) { return static_cast<unsigned char>(c) < 0x20; }) ||
      (name.find('@') != std::string::npos && !auth::is_plausible_address(name))) {
    throw Failure{kExitData, "\"" + name + "\" is not a valid user name"};
  }
}

fs::path credentials_path(const config::Config& config) {
  if (config.accounts.file.empty()) {
    throw Failure{
        kExitConfig,
        (config.source.empty() ? std::string("the configuration") : config.source.string()) +
            ": accounts.file is not set (AUTH is off); set it to manage users"};
  }
  return config.accounts.file;
}

auth::CredentialFile read_file(const fs::path& path, std::ostream& err) {
  auth::CredentialFile file = auth::CredentialFile::read(path);
  for (const auth::ParseError& e : file.errors()) {
    err << "sealpost: warning: " << path.string() << ":" << e.line << ": " << e.message
        << " (line kept as is)\n";
  }
  return file;
}

void write_file(const fs::path& path, const auth::CredentialFile& file) {
  try {
    auth::write_file_atomically(path, file.text());
  } catch (const std::exception& e) {
    throw Failure{kExitCantCreat, e.what()};
  }
}

std::string digest_of_pem(const std::string& file) {
  FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) throw Failure{kExitData, file + ": cannot open"};
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!cert) throw Failure{kExitData, file + ": no PEM certificate in it"};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // X509_digest hashes the DER encoding: the same bytes the TLS layer hashes for EXTERNAL.
  int ok = X509_digest(cert, EVP_sha256(), md, &length);
  X509_free(cert);
  if (!ok) throw Failure{kExitData, file + ": cannot hash the certificate"};
  std::string hex;
  for (unsigned i = 0; i < length; ++i) {
    char buf[3];
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

void list_users(const auth::CredentialFile& file, bool json, std::ostream& out) {
  std::vector<auth::User> users = file.users();
  if (json) {
    // One user per line: greppable, and still one JSON array.
    out << "[";
    for (std::size_t i = 0; i < users.size(); ++i) {
      const auth::User& u = users[i];
      nlohmann::ordered_json scram = nullptr;
      if (u.scram) scram = u.scram->iterations;
      nlohmann::ordered_json entry = {{"name", u.name},
                                      {"locked", u.locked()},
                                      {"aliases", u.aliases},
                                      {"authz_any", u.authz_any},
                                      {"certificates", u.certificates},
                                      {"scram_iterations", scram}};
      out << (i ? ",\n " : "\n ")
          << entry.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    }
    out << (users.empty() ? "]\n" : "\n]\n");
    return;
  }
  for (const auth::User& u : users) {
    out << u.name;
    if (u.locked()) out << " (locked)";
    if (!u.aliases.empty()) {
      out << " alias=";
      for (std::size_t i = 0; i < u.aliases.size(); ++i) out << (i ? "," : "") << u.aliases[i];
    }
    if (u.authz_any) out << " authz=*";
    for (const std::string& cert : u.certificates) out << " cert=sha256:" << cert;
    if (!u.scram) out << " (no SCRAM)";
    out << "\n";
  }
}

}  // namespace

UserCommand::UserCommand(CLI::App& app) {
  user_ = app.add_subcommand("user", "manage the accounts in the credentials file");
  user_->require_subcommand(1);

  add_ = user_->add_subcommand("add", "add a user");
  add_->add_option("name", name_, "login name, normally an email address")->required();
  add_->add_option("--alias", aliases_, "a further MAIL FROM address (repeatable)");
  add_->add_flag("--authz-any", authz_any_, "may act as any other user (SASL authzid)");
  add_->add_flag("--password-stdin", password_stdin_, "read the password from stdin");

  passwd_ = user_->add_subcommand("passwd", "set a user's password");
  passwd_->add_option("name", name_, "login name")->required();
  passwd_->add_flag("--password-stdin", password_stdin_, "read the password from stdin");

  del_ = user_->add_subcommand("del", "delete a user");
  del_->add_option("name", name_, "login name")->required();

  list_ = user_->add_subcommand("list", "list users (never their secrets)");
  list_->add_flag("--json", json_, "machine-readable output");

  cert_ = user_->add_subcommand("cert", "map a TLS client certificate to a user (EXTERNAL)");
  cert_->add_option("name", name_, "login name")->required();
  auto* digest = cert_->add_option("sha256", digest_, "SHA-256 of the DER certificate (hex)");
  auto* file = cert_->add_option("--file", cert_file_, "PEM certificate file to hash");
  auto* none = cert_->add_flag("--none", cert_none_, "remove the user's certificate mapping");
  digest->excludes(file)->excludes(none);
  file->excludes(none);
}

bool UserCommand::parsed() const { return user_->parsed(); }

int UserCommand::run(const config::Config& config, std::istream& in, std::ostream& out,
                     std::ostream& err) {
  try {
    fs::path path = credentials_path(config);
    bool embedded = config.source.empty();
    if (list_->parsed()) {
      list_users(read_file(path, err), json_, out);
      return 0;
    }
    check_name(name_);
    // The embedded default's state directory may not exist before sealpostd first ran; the
    // edit lock lives next to the file, so create it before anything else.
    if (embedded && path.has_parent_path()) {
      std::error_code ec;
      fs::create_directories(path.parent_path(), ec);
      if (ec) throw Failure{kExitCantCreat, path.parent_path().string() + ": " + ec.message()};
    }

    if (add_->parsed()) {
      for (const std::string& alias : aliases_) {
        if (!auth::is_plausible_address(alias)) {
          throw Failure{kExitData, "alias \"" + alias + "\" is not an address"};
        }
      }
      if (read_file(path, err).find(name_)) {
        throw Failure{kExitData, "user \"" + name_ + "\" already exists"};
      }
      Secret password = read_password(name_, password_stdin_, in);
      auth::User user = auth::make_user(name_, password.get(), config.accounts.scram_iterations);
      user.aliases = aliases_;
      user.authz_any = authz_any_;
      auth::EditLock lock(path);
      auth::CredentialFile file = auth::CredentialFile::read(path);  // again, under the lock
      if (!file.add(std::move(user))) {
        throw Failure{kExitData, "user \"" + name_ + "\" already exists"};
      }
      write_file(path, file);
      out << "added " << name_ << "\n";
      return 0;
    }

    if (passwd_->parsed()) {
      if (!read_file(path, err).find(name_)) {
        throw Failure{kExitNoUser, "no such user \"" + name_ + "\""};
      }
      Secret password = read_password(name_, password_stdin_, in);
      auth::User fresh = auth::make_user(name_, password.get(), config.accounts.scram_iterations);
      auth::EditLock lock(path);
      auth::CredentialFile file = auth::CredentialFile::read(path);
      const auth::User* current = file.find(name_);
      if (!current) throw Failure{kExitNoUser, "no such user \"" + name_ + "\""};
      auth::User user = *current;  // keeps the name as written, aliases, authz and certificates
      user.password_hash = std::move(fresh.password_hash);
      user.scram = std::move(fresh.scram);
      file.replace(user);
      write_file(path, file);
      out << "password changed for " << user.name << "\n";
      return 0;
    }

    if (del_->parsed()) {
      auth::EditLock lock(path);
      auth::CredentialFile file = read_file(path, err);
      if (!file.remove(name_)) throw Failure{kExitNoUser, "no such user \"" + name_ + "\""};
      write_file(path, file);
      out << "deleted " << name_ << "\n";
      return 0;
    }

    if (cert_->parsed()) {
      if (digest_.empty() && cert_file_.empty() && !cert_none_) {
        throw Failure{kExitUsage, "user cert: give SHA256, --file CERT.pem or --none"};
      }
      std::vector<std::string> certificates;
      if (!cert_none_) {
        std::string text = cert_file_.empty() ? digest_ : digest_of_pem(cert_file_);
        auto digest = auth::normalize_certificate_digest(text);
        if (!digest) throw Failure{kExitData, "\"" + text + "\" is not a SHA-256 digest (64 hex)"};
        certificates.push_back(*digest);
      }
      auth::EditLock lock(path);
      auth::CredentialFile file = read_file(path, err);
      const auth::User* current = file.find(name_);
      if (!current) throw Failure{kExitNoUser, "no such user \"" + name_ + "\""};
      // One certificate, one user: EXTERNAL must not depend on which line comes first.
      for (const auth::User& other : file.users()) {
        if (auth::normalize_name(other.name) == auth::normalize_name(name_)) continue;
        for (const std::string& c : other.certificates) {
          if (!certificates.empty() && c == certificates.front()) {
            throw Failure{kExitData,
                          "that certificate is already mapped to \"" + other.name + "\""};
          }
        }
      }
      auth::User user = *current;
      user.certificates = certificates;
      file.replace(user);
      write_file(path, file);
      out << (cert_none_ ? "removed the certificate mapping of " : "mapped the certificate to ")
          << user.name << "\n";
      return 0;
    }
  } catch (const Failure& f) {
    err << "sealpost: " << f.message << "\n";
    return f.status;
  } catch (const auth::CredentialError& e) {
    err << "sealpost: " << e.what() << "\n";
    return kExitCantCreat;
  }
  return kExitUsage;
}

}  // namespace sealpost::cli
