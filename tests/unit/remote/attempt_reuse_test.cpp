// attempt() with a ConnectionCache against a scripted SMTP server on loopback (cleartext, no
// STARTTLS offered): several messages over one connection, a connection the server dropped
// while idle or answers with 421 replaced by a fresh one without a failure, and no reuse across
// TLS requirements — a `may` connection never carries a message whose requirement is `encrypt`.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "delivery/remote/attempt.hpp"
#include "delivery/remote/mx_plan.hpp"

namespace sealpost::delivery::remote {
namespace {

// A line-by-line SMTP server, one thread per connection. It counts connections, EHLOs and
// accepted messages.
class FakeMx {
 public:
  enum class Mode { kNormal, kCloseAfterMessage, kRefuseSecondMail, kSilentToSecondMail };

  explicit FakeMx(Mode mode) : mode_(mode) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(listener_, 16);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeMx() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : sessions_) t.join();
    for (int fd : fds_) ::close(fd);
  }

  int port() const { return port_; }
  std::atomic<int> connections{0};
  std::atomic<int> ehlos{0};
  std::atomic<int> messages{0};

 private:
  void accept_loop() {
    for (;;) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++connections;
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      sessions_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static void say(int fd, const std::string& s) { ::send(fd, s.data(), s.size(), MSG_NOSIGNAL); }

  void serve(int fd) {
    say(fd, "220 fake ESMTP\r\n");
    std::string buf;
    bool in_data = false;
    int mails = 0;
    char chunk[4096];
    for (;;) {
      auto eol = buf.find("\r\n");
      if (eol == std::string::npos) {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) break;
        buf.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      std::string line = buf.substr(0, eol);
      buf.erase(0, eol + 2);
      if (in_data) {
        if (line != ".") continue;
        in_data = false;
        ++messages;
        say(fd, "250 2.0.0 queued\r\n");
        if (mode_ == Mode::kCloseAfterMessage) break;
        continue;
      }
      std::string verb = line.substr(0, 4);
      if (verb == "EHLO") {
        ++ehlos;
        say(fd, "250-fake\r\n250 8BITMIME\r\n");
      } else if (verb == "MAIL") {
        if (++mails == 2 && mode_ == Mode::kRefuseSecondMail) {
          say(fd, "421 4.4.2 fake: one message per connection\r\n");
          break;
        }
        if (mails == 2 && mode_ == Mode::kSilentToSecondMail) {
          while (::recv(fd, chunk, sizeof chunk, 0) > 0) {  // a black hole: reads, never answers
          }
          break;
        }
        say(fd, "250 2.1.0 ok\r\n");
      } else if (verb == "RCPT" || verb == "RSET") {
        say(fd, "250 ok\r\n");
      } else if (verb == "DATA") {
        in_data = true;
        say(fd, "354 go\r\n");
      } else if (verb == "QUIT") {
        say(fd, "221 bye\r\n");
        break;
      } else {
        say(fd, "500 what\r\n");
      }
    }
    ::shutdown(fd, SHUT_RDWR);
  }

  Mode mode_;
  int listener_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> sessions_;
};

tls::Requirement requirement(tls::PolicyKind kind) {
  tls::Requirement r;
  r.policy = kind;
  r.attempt_tls = kind != tls::PolicyKind::kNone;
  r.tls_required = kind == tls::PolicyKind::kEncrypt;
  return r;
}

smtp::OutgoingMessage message(const std::string& rcpt) {
  return {"alice@example.org", {rcpt}, "Subject: t\r\n\r\nhello\r\n", false, false};
}

AttemptSettings settings(ConnectionCache* cache) {
  AttemptSettings s;
  s.helo_name = "out.example.org";
  s.deadline = std::chrono::seconds(20);
  s.connect_timeout = std::chrono::seconds(5);
  s.cache = cache;
  return s;
}

bool delivered(const AttemptResult& r) {
  return r.recipients && r.recipients->size() == 1 &&
         std::holds_alternative<Delivered>(r.recipients->front());
}

ConnectionCacheLimits limits() {
  ConnectionCacheLimits l;
  l.idle_time = std::chrono::seconds(30);
  return l;
}

TEST(AttemptReuse, SeveralMessagesOverOneConnection) {
  FakeMx mx(FakeMx::Mode::kNormal);
  ConnectionCache cache(limits());
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  auto may = requirement(tls::PolicyKind::kMay);
  for (int i = 0; i < 3; ++i) {
    AttemptResult r =
        attempt(target, may, message("r" + std::to_string(i) + "@example.org"), settings(&cache));
    EXPECT_TRUE(delivered(r)) << i << " " << outcome_text(r.failure);
    EXPECT_EQ(r.reused, i > 0) << i;
    EXPECT_FALSE(r.reason.empty());  // the kept connection's verdict, for the log line
  }
  EXPECT_EQ(mx.messages, 3);
  EXPECT_EQ(mx.connections, 1);
  EXPECT_EQ(mx.ehlos, 1);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(AttemptReuse, WithoutACacheEveryMessageHasItsConnection) {
  FakeMx mx(FakeMx::Mode::kNormal);
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  for (int i = 0; i < 2; ++i) {
    AttemptResult r = attempt(target, requirement(tls::PolicyKind::kMay), message("a@example.org"),
                              settings(nullptr));
    EXPECT_TRUE(delivered(r));
    EXPECT_FALSE(r.reused);
  }
  EXPECT_EQ(mx.connections, 2);
}

TEST(AttemptReuse, ConnectionDroppedWhileIdleIsReplacedSilently) {
  FakeMx mx(FakeMx::Mode::kCloseAfterMessage);
  ConnectionCache cache(limits());
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  auto may = requirement(tls::PolicyKind::kMay);
  EXPECT_TRUE(delivered(attempt(target, may, message("a@example.org"), settings(&cache))));
  // Let the server's close arrive, as it would while the connection waits in the cache.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  AttemptResult r = attempt(target, may, message("b@example.org"), settings(&cache));
  EXPECT_TRUE(delivered(r)) << outcome_text(r.failure);
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(mx.connections, 2);
  EXPECT_EQ(mx.messages, 2);
}

TEST(AttemptReuse, A421ToTheNextMailFromIsReplacedSilently) {
  FakeMx mx(FakeMx::Mode::kRefuseSecondMail);
  ConnectionCache cache(limits());
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  auto may = requirement(tls::PolicyKind::kMay);
  EXPECT_TRUE(delivered(attempt(target, may, message("a@example.org"), settings(&cache))));
  AttemptResult r = attempt(target, may, message("b@example.org"), settings(&cache));
  EXPECT_TRUE(delivered(r)) << outcome_text(r.failure);
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(mx.connections, 2);
  EXPECT_EQ(mx.messages, 2);
}

// The server offers no STARTTLS: fine for `may`, and a `may` connection is kept. A message
// whose requirement is `encrypt` must not ride on it (it would go in cleartext): it gets a
// connection of its own, where the missing STARTTLS defers it.
TEST(AttemptReuse, NeverAcrossTlsRequirements) {
  FakeMx mx(FakeMx::Mode::kNormal);
  ConnectionCache cache(limits());
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  EXPECT_TRUE(delivered(attempt(target, requirement(tls::PolicyKind::kMay),
                                message("a@example.org"), settings(&cache))));
  AttemptResult enc = attempt(target, requirement(tls::PolicyKind::kEncrypt),
                              message("b@example.org"), settings(&cache));
  EXPECT_FALSE(enc.recipients.has_value());
  EXPECT_FALSE(enc.reused);
  EXPECT_NE(outcome_text(enc.failure).find("4.7."), std::string::npos) << outcome_text(enc.failure);
  EXPECT_EQ(mx.connections, 2);
  AttemptResult none = attempt(target, requirement(tls::PolicyKind::kNone),
                               message("c@example.org"), settings(&cache));
  EXPECT_TRUE(delivered(none));
  EXPECT_FALSE(none.reused);
  EXPECT_EQ(mx.connections, 3);
  // And the `may` connection is still there for the next `may` message.
  AttemptResult again = attempt(target, requirement(tls::PolicyKind::kMay),
                                message("d@example.org"), settings(&cache));
  EXPECT_TRUE(delivered(again));
  EXPECT_TRUE(again.reused);
  EXPECT_EQ(mx.connections, 3);
  EXPECT_EQ(mx.messages, 3);
}

TEST(AttemptReuse, CleartextRetryNeitherTakesNorKeeps) {
  FakeMx mx(FakeMx::Mode::kNormal);
  ConnectionCache cache(limits());
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  auto may = requirement(tls::PolicyKind::kMay);
  EXPECT_TRUE(delivered(attempt(target, may, message("a@example.org"), settings(&cache))));
  // The cleartext retry of a failed opportunistic handshake neither takes nor keeps.
  AttemptSettings cleartext = settings(&cache);
  cleartext.cleartext = true;
  AttemptResult r = attempt(target, may, message("b@example.org"), cleartext);
  EXPECT_TRUE(delivered(r));
  EXPECT_FALSE(r.reused);
  EXPECT_EQ(mx.connections, 2);
  EXPECT_EQ(cache.size(), 1u);
}

// A kept connection that has gone silent (state dropped by a NAT or firewall: nothing comes back,
// not even a reset) is given connect_timeout to answer, not the attempt's whole deadline, and
// is then replaced by a fresh connection without a failure.
TEST(AttemptReuse, SilentKeptConnectionIsReplacedWithinTheConnectTimeout) {
  FakeMx mx(FakeMx::Mode::kSilentToSecondMail);
  ConnectionCache cache(limits());
  AttemptTarget target{"mx.example.org", "127.0.0.1", mx.port()};
  auto may = requirement(tls::PolicyKind::kMay);
  AttemptSettings s = settings(&cache);
  s.connect_timeout = std::chrono::seconds(1);  // the deadline stays 20 s
  EXPECT_TRUE(delivered(attempt(target, may, message("a@example.org"), s)));
  const auto started = std::chrono::steady_clock::now();
  AttemptResult r = attempt(target, may, message("b@example.org"), s);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_TRUE(delivered(r)) << outcome_text(r.failure);
  EXPECT_FALSE(r.reused);
  EXPECT_LT(took, std::chrono::seconds(5));
  EXPECT_EQ(mx.connections, 2);
  EXPECT_EQ(mx.messages, 2);
}

}  // namespace
}  // namespace sealpost::delivery::remote
