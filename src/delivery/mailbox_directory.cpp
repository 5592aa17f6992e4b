// Local domain and mailbox lookup from the config. ASCII case folding only: SMTPUTF8 local
// parts are matched byte-exact beyond ASCII (RFC 6531 gives no case rule for them).
// RFC 5321 §4.5.1: postmaster@<local domain> and the bare "Postmaster" always exist.
#include "delivery/mailbox_directory.hpp"

#include <algorithm>

namespace sealpost::delivery {
namespace {

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; });
  return out;
}

LocalMailbox mailbox_of(const config::Config& config, const config::Mailbox& box) {
  return {box.address, box.maildir.empty() ? config.state_dir / "mail" / box.address : box.maildir,
          box.lmtp.empty() ? config.delivery.lmtp : box.lmtp};
}

}  // namespace

MailboxDirectory::MailboxDirectory(const config::Config& config) {
  for (const auto& domain : config.local_domains) domains_.insert(ascii_lower(domain));
  for (const auto& box : config.mailboxes) {
    // First definition wins, matching the config's "first match" habit elsewhere.
    mailboxes_.emplace(ascii_lower(box.address), mailbox_of(config, box));
  }
  if (!config.postmaster.empty()) {
    const auto it = mailboxes_.find(ascii_lower(config.postmaster));
    // A postmaster that is not a listed mailbox still gets a Maildir at the default place,
    // so postmaster mail is never refused.
    postmaster_ =
        it != mailboxes_.end()
            ? it->second
            : LocalMailbox{config.postmaster, config.state_dir / "mail" / config.postmaster,
                           config.delivery.lmtp};
  } else if (!config.mailboxes.empty()) {
    postmaster_ = mailbox_of(config, config.mailboxes.front());
  }
}

bool MailboxDirectory::is_local_domain(std::string_view domain) const {
  return domains_.contains(ascii_lower(domain));
}

std::optional<std::filesystem::path> MailboxDirectory::find(std::string_view address) const {
  std::optional<LocalMailbox> box = find_mailbox(address);
  if (!box) return std::nullopt;
  return box->maildir;
}

std::optional<LocalMailbox> MailboxDirectory::find_mailbox(std::string_view address) const {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos) {
    // RFC 5321 §4.5.1: "RCPT TO:<Postmaster>" without a domain must be accepted.
    if (ascii_lower(address) == "postmaster") return postmaster_;
    return std::nullopt;
  }
  if (!is_local_domain(address.substr(at + 1))) return std::nullopt;
  const std::string key = ascii_lower(address);
  if (const auto it = mailboxes_.find(key); it != mailboxes_.end()) return it->second;
  if (std::string_view(key).substr(0, at) == "postmaster") return postmaster_;
  return std::nullopt;
}

}  // namespace sealpost::delivery
