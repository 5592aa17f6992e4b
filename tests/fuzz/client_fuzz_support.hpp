// Shared by the ClientSession fuzz targets (client_fuzz, client_reuse_fuzz): the input's flag
// bits, a deterministic fake SASL mechanism, the plaintext check and the comparison of runs fed
// whole, chunked and byte by byte. Not a driver: each target drives the session its own way.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smtp/client_session.hpp"

namespace sealpost::smtp::fuzzing {

// The first input byte: the client's policy.
enum Flag : std::uint8_t {
  kTlsModeMask = 3,  // TlsMode by value
  kPipelining = 1 << 2,
  kChunking = 1 << 3,
  kHeloFallback = 1 << 4,
  kWithAuth = 1 << 5,
  kSmallChunks = 1 << 6,
  kHandshakeFails = 1 << 7,
};
// In c0 (bits 5..7), for the fake mechanism.
enum AuthFlag : std::uint8_t {
  kNoInitialResponse = 1 << 5,
  kLongInitialResponse = 1 << 6,
  kNeedsProof = 1 << 7,  // complete() only after two challenges were answered
};
constexpr std::uint8_t kAuthFlagMask = kNoInitialResponse | kLongInitialResponse | kNeedsProof;

// Two NULs (never valid in a reply) separate the server's turns.
constexpr std::string_view kTurn("\0\0", 2);

// Texts of the two cut-dependent failures (client_session.cpp).
constexpr std::string_view kEarlyData = "server sent data before the command it would answer";
constexpr std::string_view kStartTlsInjection =
    "server sent data after its STARTTLS reply (response injection)";

[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "invariant violated: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

inline ClientSettings settings_for(std::uint8_t flags, bool lmtp = false) {
  ClientSettings settings;
  settings.lmtp = lmtp;
  settings.helo_name = "client.test";
  settings.tls = static_cast<TlsMode>(flags & kTlsModeMask);
  settings.use_pipelining = flags & kPipelining;
  settings.use_chunking = flags & kChunking;
  settings.allow_helo_fallback = flags & kHeloFallback;
  settings.bdat_chunk_size = (flags & kSmallChunks) ? 5 : 1 << 20;
  return settings;
}

// A deterministic mechanism: its answers depend only on the challenges, in order.
class FuzzAuthenticator final : public ClientAuthenticator {
 public:
  explicit FuzzAuthenticator(std::uint8_t flags) : flags_(flags) {}
  std::optional<std::string> choose(const std::vector<std::string>& offered) override {
    for (const auto& m : offered)
      if (m == "PLAIN" || m == "SCRAM-SHA-256" || m == "LOGIN") return m;
    return std::nullopt;
  }
  std::optional<std::string> initial_response() override {
    if (flags_ & kNoInitialResponse) return std::nullopt;
    if (flags_ & kLongInitialResponse) return std::string(600, 'A');
    return "AGRlbW8AcGFzcw==";
  }
  std::optional<std::string> respond(std::string_view challenge) override {
    ++answered_;
    if (challenge.empty()) return "";
    if (challenge[0] < 'M') return "cmVzcG9uc2U=";
    if (challenge[0] < 'r') return "not base64!";
    return std::nullopt;
  }
  bool complete() const override { return !(flags_ & kNeedsProof) || answered_ >= 2; }

 private:
  std::uint8_t flags_;
  int answered_ = 0;
};

// Commands allowed before TLS when TLS is required: nothing that carries mail or credentials.
inline void check_plaintext(std::string_view out) {
  while (!out.empty()) {
    std::size_t end = out.find("\r\n");
    if (end == std::string_view::npos) fail("plaintext output without CRLF", out);
    std::string_view line = out.substr(0, end);
    out.remove_prefix(end + 2);
    if (line != "EHLO client.test" && line != "LHLO client.test" && line != "STARTTLS" &&
        line != "QUIT")
      fail("command sent in plaintext although TLS is required", line);
  }
}

struct Run {
  std::string output;  // everything the client wrote, with markers for the driver's actions
  std::string results;
  bool cut_dependent = false;
};

inline bool cut_dependent(const SessionFailure& f) {
  return f.detail == kEarlyData || f.detail == kStartTlsInjection;
}

// A run that hit a cut-dependent failure stopped early, so its output must be a prefix of the
// other's; runs without one must agree exactly.
inline void compare(const Run& a, const Run& b, const char* what) {
  if (!a.cut_dependent && !b.cut_dependent) {
    if (a.output != b.output) fail(what, a.output + "\n----\n" + b.output);
    if (a.results != b.results) fail(what, a.results + "\n----\n" + b.results);
    return;
  }
  const std::string& shorter = a.output.size() <= b.output.size() ? a.output : b.output;
  const std::string& longer = a.output.size() <= b.output.size() ? b.output : a.output;
  if (longer.compare(0, shorter.size(), shorter) != 0) fail(what, a.output + "\n----\n" + b.output);
}

}  // namespace sealpost::smtp::fuzzing
