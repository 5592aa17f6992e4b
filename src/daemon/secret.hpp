// Small secrets the daemon keeps in its state directory: the key that makes fake SCRAM salts
// for unknown users stable across restarts (a salt that changed on restart would reveal that
// the user does not exist).
#pragma once

#include <filesystem>
#include <string>

namespace sealpost::daemon {

// Reads 32 bytes from `path`, creating it (0600, random) on first use. Throws on I/O errors.
std::string load_or_create_secret(const std::filesystem::path& path);
// 32 random characters, for throwaway values.
std::string random_token();

}  // namespace sealpost::daemon
