// Generates the dev instance's self-signed certificate on first start: ECDSA P-256, SAN
// DNS:<hostname>, DNS:localhost, IP:127.0.0.1, IP:::1, valid 1 year. Key written 0600.
#pragma once

#include <filesystem>
#include <string>

namespace sealpost::tls {

// Does nothing if both files exist. Throws std::runtime_error on failure.
void ensure_self_signed(const std::filesystem::path& cert, const std::filesystem::path& key,
                        const std::string& hostname);

}  // namespace sealpost::tls
