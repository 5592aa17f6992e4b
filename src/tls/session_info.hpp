// What a finished TLS handshake tells the log and the Received header (RFC 8314 §4.3).
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace sealpost::tls {

struct SessionInfo {
  std::string version;      // "TLSv1.3"
  std::string cipher;       // "TLS_AES_256_GCM_SHA384"
  int bits = 0;             // symmetric key bits
  std::string server_name;  // SNI sent by the client, "" if none
};

SessionInfo describe(const SSL* ssl);

}  // namespace sealpost::tls
