// The embedded default's first-start helper: creates the credentials file with one user,
// demo@localhost, and a random password for sealpostd to print once. Leaves printing to the
// daemon.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "auth/credential_file.hpp"

namespace sealpost::auth {

inline constexpr std::string_view kDemoUser = "demo@localhost";

// A random password of `length` characters from an unambiguous alphabet (no 0/O, 1/l/I).
std::string random_password(std::size_t length = 16);

// A user line's worth: yescrypt hash and SCRAM secrets for `password`. Blocking (hashing).
User make_user(std::string name, std::string_view password, unsigned scram_iterations);

// If `path` does not exist, writes it (0600, atomically) with the demo user and returns the
// password; otherwise returns nullopt and leaves it alone. Throws CredentialError.
std::optional<std::string> ensure_demo_user(const std::filesystem::path& path,
                                            unsigned scram_iterations);

}  // namespace sealpost::auth
