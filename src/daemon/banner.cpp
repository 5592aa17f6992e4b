// The dev banner names only what the embedded default configured, so it cannot drift.
#include "daemon/banner.hpp"

namespace sealpost::daemon {

std::string dev_banner(const config::Config& c, const std::optional<std::string>& demo_password) {
  std::string out =
      "\nsealpostd dev instance (embedded default; state in " + c.state_dir.string() + ")\n";
  std::string implicit_port, mx_port;
  for (const auto& l : c.listeners) {
    const char* tls = l.tls == config::TlsMode::kImplicit ? "implicit TLS" : "STARTTLS    ";
    const char* role = l.role == config::Role::kMx ? "mx" : "submission, AUTH required";
    out += "  " + std::string(tls) + "  " + l.address + ":" + std::to_string(l.port) + "  (" +
           role + ")\n";
    if (l.tls == config::TlsMode::kImplicit && l.role == config::Role::kSubmission &&
        implicit_port.empty())
      implicit_port = std::to_string(l.port);
    if (l.role == config::Role::kMx && mx_port.empty()) mx_port = std::to_string(l.port);
  }
  std::string cert = c.pki.empty() || c.pki.front().certs.empty()
                         ? std::string("CERT")
                         : c.pki.front().certs.front().string();
  std::string user =
      c.mailboxes.empty() ? std::string("demo@localhost") : c.mailboxes.front().address;
  std::string maildir = c.mailboxes.empty() ? std::string() : c.mailboxes.front().maildir.string();
  out += "  mailbox " + user + " -> " + maildir + "/new/\n";
  std::string password = demo_password ? *demo_password : std::string("PASSWORD");
  if (demo_password) {
    out += "  user " + user + ", password " + *demo_password + "  (shown once; stored hashed in " +
           c.accounts.file.string() + ")\n";
  } else {
    out += "  user " + user + ": PASSWORD was printed at first start; set a new one with\n" +
           "    sealpost --state-dir " + c.state_dir.string() + " user passwd " + user + "\n";
  }
  out += "\nSend a test message over implicit TLS with AUTH (RFC 8314 submission):\n";
  out += "  swaks --server 127.0.0.1:" + implicit_port + " --tlsc --auth-user " + user +
         " --auth-password '" + password + "' --from " + user + " --to " + user + "\n";
  out += "  printf 'Subject: hello\\r\\n\\r\\nHi!\\r\\n' | curl --url smtps://127.0.0.1:" +
         implicit_port + " --cacert " + cert + " --user '" + user + ":" + password +
         "' --mail-from " + user + " --mail-rcpt " + user + " --upload-file -\n";
  if (!mx_port.empty()) {
    out += "or, as another server would (STARTTLS, no AUTH, local recipients only):\n";
    out += "  swaks --server 127.0.0.1:" + mx_port + " --tls --from you@example.org --to " + user +
           "\n";
  }
  return out + "\n";
}

}  // namespace sealpost::daemon
