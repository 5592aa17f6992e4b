// Which domains are local and which local addresses have a mailbox (a Maildir, or an LMTP
// server: [delivery] lmtp or the mailbox's own lmtp): built from the config,
// read-only afterwards (safe to share between threads). Domains and local parts compare
// case-insensitively (ASCII); postmaster@<any local domain> always exists (RFC 5321 §4.5.1).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "config/config.hpp"

namespace sealpost::delivery {

// A local mailbox as delivery sees it.
struct LocalMailbox {
  std::string address;            // as configured (postmaster@... resolves to the postmaster's)
  std::filesystem::path maildir;  // used when lmtp is empty
  config::LmtpTarget lmtp;        // set: hand the mail to this LMTP server instead
};

class MailboxDirectory {
 public:
  explicit MailboxDirectory(const config::Config& config);

  bool is_local_domain(std::string_view domain) const;
  // The Maildir root for `address` (local@domain), or nullopt if no such local mailbox.
  std::optional<std::filesystem::path> find(std::string_view address) const;
  // The same lookup, with the mailbox's configured address and where it is delivered.
  std::optional<LocalMailbox> find_mailbox(std::string_view address) const;

 private:
  std::unordered_set<std::string> domains_;                  // lower-cased
  std::unordered_map<std::string, LocalMailbox> mailboxes_;  // lower-cased address
  std::optional<LocalMailbox> postmaster_;
};

}  // namespace sealpost::delivery
