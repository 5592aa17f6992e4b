// Test harness for ClientSession: a Client that feeds it server bytes and returns what it
// writes back, and expect(c, "250 Ok\r\n", "RCPT TO:<b@x>\r\n") with readable CR/LF on failure.
// Shared by client_session_test.cpp and client_session_lmtp_test.cpp.
#pragma once

#include <gtest/gtest.h>

#include <source_location>
#include <string>
#include <string_view>

#include "smtp/client_session.hpp"

namespace sealpost::smtp::testing {

// CR and LF spelled out, so a failing dialogue reads on one line.
inline std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A session under test; `Defaults` gives the settings of `Client c;` in each test file.
template <ClientSettings (*Defaults)()>
struct BasicClient {
  explicit BasicClient(ClientSettings s = Defaults(), ClientAuthenticator* a = nullptr)
      : session(std::move(s), a) {}
  std::string server(std::string_view bytes) {
    session.receive(bytes);
    return session.take_output();
  }
  ClientSession session;
};

// The server says `server`; the client must answer exactly `client`.
template <typename C>
void expect(C& c, std::string_view server, std::string_view client,
            std::source_location loc = std::source_location::current()) {
  std::string out = c.server(server);
  if (out != client)
    ADD_FAILURE_AT(loc.file_name(), static_cast<int>(loc.line()))
        << "server:   " << escape(server) << "\nexpected: " << escape(client)
        << "\ngot:      " << escape(out) << "\nfailure:  " << c.session.failure().detail;
}

}  // namespace sealpost::smtp::testing
