// The dev banner names only what the embedded default configured, so it cannot drift.
#include "daemon/banner.hpp"

namespace sealpost::daemon {

std::string dev_banner(const config::Config& c) {
  std::string out =
      "\nsealpostd dev instance (embedded default; state in " + c.state_dir.string() + ")\n";
  std::string implicit_port;
  for (const auto& l : c.listeners) {
    const char* tls = l.tls == config::TlsMode::kImplicit ? "implicit TLS" : "STARTTLS    ";
    const char* role = l.role == config::Role::kMx ? "mx" : "submission";
    out += "  " + std::string(tls) + "  " + l.address + ":" + std::to_string(l.port) + "  (" +
           role + ")\n";
    if (l.tls == config::TlsMode::kImplicit && implicit_port.empty())
      implicit_port = std::to_string(l.port);
  }
  std::string cert = c.pki.empty() || c.pki.front().certs.empty()
                         ? std::string("CERT")
                         : c.pki.front().certs.front().string();
  std::string rcpt =
      c.mailboxes.empty() ? std::string("demo@localhost") : c.mailboxes.front().address;
  std::string maildir = c.mailboxes.empty() ? std::string() : c.mailboxes.front().maildir.string();
  out += "  mailbox " + rcpt + " -> " + maildir + "/new/\n\n";
  out += "Send a test message over implicit TLS (RFC 8314):\n";
  out += "  swaks --server 127.0.0.1:" + implicit_port + " --tlsc --to " + rcpt +
         " --from you@example.org\n";
  out += "  printf 'Subject: hello\\r\\n\\r\\nHi!\\r\\n' | curl --url smtps://127.0.0.1:" +
         implicit_port + " --cacert " + cert + " --mail-from you@example.org --mail-rcpt " + rcpt +
         " --upload-file -\n\n";
  return out;
}

}  // namespace sealpost::daemon
