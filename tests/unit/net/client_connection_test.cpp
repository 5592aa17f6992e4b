// net::ClientConnection and net::converse against real loopback sockets: a peer thread plays
// the server (plain, TLS, silent, or a greeting where TLS was expected), and every wait is
// bounded so a regression fails fast instead of hanging.
#include "net/client_connection.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "net/client_dialogue.hpp"
#include "tls/tls_test_support.hpp"

namespace sealpost::net {
namespace {

using namespace std::chrono_literals;

// A listener on 127.0.0.1 whose first connection is handed to `serve` on a thread.
class Peer {
 public:
  explicit Peer(std::function<void(int fd)> serve) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listener_, 4), 0);
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, serve = std::move(serve)] {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      serve(fd);
      ::close(fd);
    });
  }
  ~Peer() {
    ::shutdown(listener_, SHUT_RDWR);  // wakes an accept that never got a client
    thread_.join();
    ::close(listener_);
  }
  int port() const { return port_; }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::recv(fd, &c, 1, 0) == 1) {
    line += c;
    if (c == '\n') break;
  }
  return line;
}

void say(int fd, const std::string& text) { ::send(fd, text.data(), text.size(), MSG_NOSIGNAL); }

// Holds the connection open, silent, until the client goes away.
void stay_silent(int fd) {
  char buf[512];
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
}

Deadline in(std::chrono::milliseconds d) { return Clock::now() + d; }

TEST(ClientConnection, PlainLinesBothWays) {
  Peer peer([](int fd) {
    say(fd, "220 mail.test\r\n");
    if (read_line(fd) == "QUIT\r\n") say(fd, "221 bye\r\n");
  });
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("localhost", peer.port(), {"127.0.0.1"}, in(5s)));
  EXPECT_EQ(conn.peer_address(), "127.0.0.1");
  std::string got;
  ASSERT_EQ(conn.read_some(got, in(5s)), Io::kOk);
  EXPECT_EQ(got, "220 mail.test\r\n");
  ASSERT_EQ(conn.write_all("QUIT\r\n", in(5s)), Io::kOk);
  got.clear();
  ASSERT_EQ(conn.read_some(got, in(5s)), Io::kOk);
  EXPECT_EQ(got, "221 bye\r\n");
  EXPECT_EQ(conn.read_some(got, in(5s)), Io::kEof);
  EXPECT_FALSE(conn.tls_active());
}

TEST(ClientConnection, RefusedNamesHostAndPort) {
  int port;
  {
    Peer gone([](int) {});  // a port that was just free, now closed again
    port = gone.port();
    ClientConnection c;
    ASSERT_TRUE(c.connect("127.0.0.1", port, {}, in(5s)));
  }
  ClientConnection conn;
  auto r = conn.connect("mx.test", port, {"127.0.0.1"}, in(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ConnectError::kRefused);
  EXPECT_EQ(r.error().message,
            "cannot connect to mx.test port " + std::to_string(port) + ": Connection refused");
}

TEST(ClientConnection, SilentServerTimesOutAtTheDeadline) {
  Peer peer(stay_silent);
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s), 2s));
  auto start = Clock::now();
  std::string got;
  EXPECT_EQ(conn.read_some(got, in(200ms)), Io::kTimeout);
  EXPECT_LT(Clock::now() - start, 2s);
  conn.close();
}

TEST(ClientConnection, HandshakeWithSilentServerTimesOut) {
  Peer peer(stay_silent);
  auto ctx = tls::test::client_context();
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s)));
  auto r = conn.handshake(SslPtr(SSL_new(ctx.get())), in(200ms));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HandshakeError::kTimeout);
  conn.close();
}

TEST(ClientConnection, HandshakeAgainstAGreetingSaysNotTls) {
  Peer peer([](int fd) {
    say(fd, "220 mail.test ESMTP a STARTTLS port\r\n");
    stay_silent(fd);
  });
  auto ctx = tls::test::client_context();
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s)));
  auto r = conn.handshake(SslPtr(SSL_new(ctx.get())), in(5s));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, HandshakeError::kFailed);
  EXPECT_TRUE(r.error().plaintext);
  EXPECT_EQ(r.error().message, "TLS handshake failed: " + r.error().reason);
  EXPECT_NE(conn.ssl(), nullptr);  // kept, so the caller can ask what it saw
  conn.close();
}

TEST(ClientConnection, TlsLinesBothWays) {
  tls::test::TempDir dir;
  tls::test::write_certificate(dir / "cert.pem", dir / "key.pem", tls::test::KeyType::kEcdsa,
                               "mail.test", {"mail.test"});
  auto server_ctx = tls::test::permissive_server_context(dir / "cert.pem", dir / "key.pem");
  Peer peer([&](int fd) {
    SslPtr ssl(SSL_new(server_ctx.get()));
    SSL_set_fd(ssl.get(), fd);
    if (SSL_accept(ssl.get()) != 1) return;
    SSL_write(ssl.get(), "220 over tls\r\n", 14);
    char buf[64];
    int n = SSL_read(ssl.get(), buf, sizeof buf);
    if (n > 0) SSL_write(ssl.get(), buf, n);  // echo
    SSL_shutdown(ssl.get());
  });
  auto ctx = tls::test::client_context();
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s)));
  ASSERT_TRUE(conn.handshake(SslPtr(SSL_new(ctx.get())), in(5s)));
  EXPECT_TRUE(conn.tls_active());
  std::string got;
  ASSERT_EQ(conn.read_some(got, in(5s)), Io::kOk);
  EXPECT_EQ(got, "220 over tls\r\n");
  ASSERT_EQ(conn.write_all("EHLO me\r\n", in(5s)), Io::kOk);
  got.clear();
  ASSERT_EQ(conn.read_some(got, in(5s)), Io::kOk);
  EXPECT_EQ(got, "EHLO me\r\n");
  EXPECT_EQ(conn.read_some(got, in(5s)), Io::kEof);
}

// A server for converse(): greeting, then one scripted reply per command.
void smtp_server(int fd, bool offer_starttls) {
  say(fd, "220 mail.test ESMTP\r\n");
  for (;;) {
    std::string line = read_line(fd);
    if (line.empty()) return;
    if (line.starts_with("EHLO")) {
      say(fd, offer_starttls ? "250-mail.test\r\n250 STARTTLS\r\n" : "250 mail.test\r\n");
    } else if (line == "STARTTLS\r\n") {
      say(fd, "220 2.0.0 go ahead\r\n");
    } else if (line == "QUIT\r\n") {
      say(fd, "221 2.0.0 bye\r\n");
      return;
    } else {
      say(fd, "502 5.5.1 no\r\n");
    }
  }
}

TEST(Converse, RunsTheSessionToItsEnd) {
  Peer peer([](int fd) { smtp_server(fd, false); });
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s)));
  smtp::ClientSettings settings;
  settings.tls = smtp::TlsMode::kNone;
  smtp::ClientSession session(settings);
  session.quit();
  std::string seen;
  Deadline deadline = in(5s);
  converse(
      session, conn, deadline, [] { return false; }, [&](std::string_view b) { seen += b; });
  EXPECT_EQ(session.failure().reason, smtp::FailureReason::kNone);
  EXPECT_TRUE(seen.starts_with("220 mail.test ESMTP\r\n")) << seen;
  EXPECT_TRUE(seen.ends_with("221 2.0.0 bye\r\n")) << seen;
}

TEST(Converse, AStartTlsHookThatRefusesEndsTheSession) {
  Peer peer([](int fd) { smtp_server(fd, true); });
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s)));
  smtp::ClientSettings settings;
  settings.tls = smtp::TlsMode::kRequireStartTls;
  smtp::ClientSession session(settings);
  session.quit();
  int calls = 0;
  Deadline deadline = in(5s);
  converse(session, conn, deadline, [&] { return ++calls, false; });
  conn.close();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(session.failure().reason, smtp::FailureReason::kTlsFailed);
}

TEST(Converse, ASilentServerIsASessionTimeout) {
  Peer peer(stay_silent);
  ClientConnection conn;
  ASSERT_TRUE(conn.connect("127.0.0.1", peer.port(), {}, in(5s)));
  smtp::ClientSession session(smtp::ClientSettings{.tls = smtp::TlsMode::kNone});
  session.quit();
  Deadline deadline = in(300ms);
  converse(session, conn, deadline, [] { return false; });
  conn.close();
  EXPECT_EQ(session.failure().reason, smtp::FailureReason::kTimeout);
}

}  // namespace
}  // namespace sealpost::net
