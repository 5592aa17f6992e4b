// A tiny authoritative-looking UDP DNS server on 127.0.0.1 for resolver tests (no DNSSEC):
//   a.example A 192.0.2.1 (TTL 120), mx.example MX 10 mail.example., nx.example NXDOMAIN,
//   slow.example: never answered; anything else: NOERROR without data.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

namespace sealpost::dns::test {

class FakeDnsServer {
 public:
  FakeDnsServer();  // binds a free port and starts answering
  ~FakeDnsServer();
  std::uint16_t port() const { return port_; }
  int queries() const { return queries_.load(); }

 private:
  void serve();
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

}  // namespace sealpost::dns::test
