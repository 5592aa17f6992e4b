// Which domains are local and which local addresses have a Maildir: built from the config,
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

class MailboxDirectory {
 public:
  explicit MailboxDirectory(const config::Config& config);

  bool is_local_domain(std::string_view domain) const;
  // The Maildir root for `address` (local@domain), or nullopt if no such local mailbox.
  std::optional<std::filesystem::path> find(std::string_view address) const;

 private:
  std::unordered_set<std::string> domains_;                           // lower-cased
  std::unordered_map<std::string, std::filesystem::path> mailboxes_;  // lower-cased address
  std::optional<std::filesystem::path> postmaster_;
};

}  // namespace sealpost::delivery
