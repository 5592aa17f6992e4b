// MailboxDirectory: ASCII case-insensitive domains and addresses, default Maildir paths and
// the postmaster rule of RFC 5321 §4.5.1.
#include "delivery/mailbox_directory.hpp"

#include <gtest/gtest.h>

namespace sealpost::delivery {
namespace {

config::Config sample_config() {
  config::Config config;
  config.state_dir = "/var/lib/sealpost";
  config.local_domains = {"Example.org", "example.net"};
  config.mailboxes = {{"alice@example.org", "/home/alice/Maildir"},
                      {"Bob@Example.ORG", ""},
                      {"carol@example.net", "/srv/mail/carol"}};
  return config;
}

TEST(MailboxDirectory, LocalDomainsIgnoreAsciiCase) {
  MailboxDirectory directory(sample_config());
  EXPECT_TRUE(directory.is_local_domain("example.org"));
  EXPECT_TRUE(directory.is_local_domain("EXAMPLE.ORG"));
  EXPECT_TRUE(directory.is_local_domain("Example.Net"));
  EXPECT_FALSE(directory.is_local_domain("example.com"));
  EXPECT_FALSE(directory.is_local_domain("sub.example.org"));
}

TEST(MailboxDirectory, FindsMailboxesCaseInsensitively) {
  MailboxDirectory directory(sample_config());
  EXPECT_EQ(directory.find("alice@example.org"), std::filesystem::path("/home/alice/Maildir"));
  EXPECT_EQ(directory.find("ALICE@EXAMPLE.ORG"), std::filesystem::path("/home/alice/Maildir"));
  EXPECT_EQ(directory.find("bob@example.org"),
            std::filesystem::path("/var/lib/sealpost/mail/Bob@Example.ORG"));
  EXPECT_FALSE(directory.find("dave@example.org").has_value());
  EXPECT_FALSE(directory.find("alice@example.net").has_value());  // different domain
  EXPECT_FALSE(directory.find("alice@example.com").has_value());
  EXPECT_FALSE(directory.find("alice").has_value());
  EXPECT_FALSE(directory.find("").has_value());
}

TEST(MailboxDirectory, PostmasterDefaultsToFirstMailbox) {
  MailboxDirectory directory(sample_config());
  for (const char* address :
       {"postmaster@example.org", "PostMaster@EXAMPLE.net", "Postmaster", "POSTMASTER"}) {
    EXPECT_EQ(directory.find(address), std::filesystem::path("/home/alice/Maildir")) << address;
  }
  EXPECT_FALSE(directory.find("postmaster@example.com").has_value());
}

TEST(MailboxDirectory, PostmasterFollowsConfig) {
  config::Config config = sample_config();
  config.postmaster = "CAROL@example.net";
  MailboxDirectory directory(config);
  EXPECT_EQ(directory.find("postmaster@example.org"), std::filesystem::path("/srv/mail/carol"));
}

TEST(MailboxDirectory, ExplicitPostmasterMailboxWins) {
  config::Config config = sample_config();
  config.mailboxes.push_back({"postmaster@example.net", "/srv/mail/pm-net"});
  MailboxDirectory directory(config);
  EXPECT_EQ(directory.find("postmaster@example.net"), std::filesystem::path("/srv/mail/pm-net"));
  EXPECT_EQ(directory.find("postmaster@example.org"), std::filesystem::path("/home/alice/Maildir"));
}

TEST(MailboxDirectory, NoMailboxesMeansNoPostmaster) {
  config::Config config;
  config.local_domains = {"example.org"};
  MailboxDirectory directory(config);
  EXPECT_TRUE(directory.is_local_domain("example.org"));
  EXPECT_FALSE(directory.find("postmaster@example.org").has_value());
}

}  // namespace
}  // namespace sealpost::delivery
