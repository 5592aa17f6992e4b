#include "fake_dns_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace sealpost::dns::test {

namespace {

void put16(std::vector<std::uint8_t>& out, unsigned v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, v >> 16);
  put16(out, v & 0xffff);
}

// Lower-case dotted name of the question, and where the question ends (after QTYPE/QCLASS).
bool read_question(const std::uint8_t* p, std::size_t n, std::string& name, unsigned& qtype,
                   std::size_t& end) {
  std::size_t pos = 12;
  while (pos < n && p[pos] != 0) {
    std::size_t len = p[pos];
    if (len > 63 || pos + 1 + len > n) return false;
    for (std::size_t i = 0; i < len; ++i) name += static_cast<char>(std::tolower(p[pos + 1 + i]));
    name += '.';
    pos += 1 + len;
  }
  if (pos + 5 > n) return false;
  qtype = static_cast<unsigned>(p[pos + 1] << 8 | p[pos + 2]);
  end = pos + 5;
  return true;
}

}  // namespace

FakeDnsServer::FakeDnsServer() {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("fake DNS server: cannot bind");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeDnsServer::~FakeDnsServer() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
}

void FakeDnsServer::serve() {
  std::uint8_t buf[1500];
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) != 1) continue;
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 12) continue;
    ++queries_;
    std::string name;
    unsigned qtype = 0;
    std::size_t qend = 0;
    if (!read_question(buf, static_cast<std::size_t>(n), name, qtype, qend)) continue;
    if (name == "slow.example.") continue;
    std::vector<std::uint8_t> out(buf, buf + 2);  // ID
    bool nx = name == "nx.example.";
    put16(out, 0x8180 | 0x0400 | (nx ? 3 : 0));  // QR RD RA AA, rcode
    std::vector<std::uint8_t> answer;
    if (name == "a.example." && qtype == 1) {
      put16(answer, 0xC00C);
      put16(answer, 1);
      put16(answer, 1);
      put32(answer, 120);
      put16(answer, 4);
      for (int b : {192, 0, 2, 1}) answer.push_back(static_cast<std::uint8_t>(b));
    } else if (name == "mx.example." && qtype == 15) {
      put16(answer, 0xC00C);
      put16(answer, 15);
      put16(answer, 1);
      put32(answer, 60);
      const std::uint8_t rdata[] = {0,   10,  4,   'm', 'a', 'i', 'l', 7,
                                    'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
      put16(answer, sizeof rdata);
      answer.insert(answer.end(), rdata, rdata + sizeof rdata);
    }
    put16(out, 1);                       // QDCOUNT
    put16(out, answer.empty() ? 0 : 1);  // ANCOUNT
    put16(out, 0);
    put16(out, 0);
    out.insert(out.end(), buf + 12, buf + qend);
    out.insert(out.end(), answer.begin(), answer.end());
    ::sendto(fd_, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }
}

}  // namespace sealpost::dns::test
