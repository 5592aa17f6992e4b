// The smarthost password file of [relay] password_file: read once at start-up, refused when
// anyone but its owner may read or write it (a leaked relay password lets anyone send as us).
// No reload: a changed password needs a restart.
#pragma once

#include <expected>
#include <filesystem>
#include <string>

namespace sealpost::delivery::remote {

// The first line of `path` without its line end. Errors (one line, naming the file): cannot
// open, not a regular file, group/other permission bits set, empty password.
std::expected<std::string, std::string> read_password_file(const std::filesystem::path& path);

}  // namespace sealpost::delivery::remote
