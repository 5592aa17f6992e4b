// Control socket server and client over a real unix socket: mode 0600, a second daemon refused,
// a stale socket replaced, "not running" told apart, requests answered, oversized and slow
// requests cut off, too many clients told "busy", long socket paths, and (when the test runs as
// root) a peer of another uid refused by SO_PEERCRED.
#include "control/server.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "control/client.hpp"
#include "control/socket_address.hpp"
#include "queue/queue_id.hpp"
#include "test_support.hpp"

namespace sealpost::control {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using sealpost::testing::QuietLogs;
using sealpost::testing::TempDir;

// A spool, a scheduler that defers everything, a handler, and the server on a socket.
struct Daemon {
  explicit Daemon(const fs::path& dir, Server::Options options = {})
      : spool(dir / "spool"),
        scheduler(spool,
                  delivery::Scheduler::each_recipient(
                      [](const queue::StoredMessage&, unsigned) -> delivery::Outcome {
                        return delivery::TempFail{"451 4.4.0 later"};
                      }),
                  slow()),
        handler(spool, scheduler),
        server(with_path(std::move(options), dir / "control.sock")) {
    scheduler.start();
    server.start(handler);
  }
  static delivery::Scheduler::Options slow() {
    delivery::Scheduler::Options options;
    options.first_retry = 3600s;
    return options;
  }
  static Server::Options with_path(Server::Options options, fs::path path) {
    if (options.path.empty()) options.path = std::move(path);
    return options;
  }
  std::string submit(std::vector<std::string> recipients = {"b@example.com"}) {
    const std::string id = queue::make_queue_id();
    const std::string_view parts[] = {"Subject: x\r\n\r\n"};
    EXPECT_TRUE(
        spool.commit(id, queue::Envelope{"a@example.org", std::move(recipients)}, parts).ok());
    scheduler.enqueue(id);
    return id;
  }

  queue::Spool spool;
  delivery::Scheduler scheduler;
  Handler handler;
  Server server;
};

template <typename F>
Server::Options options(F change) {
  Server::Options options;
  change(options);
  return options;
}

// A raw connection: send bytes, read everything until the server closes.
std::string exchange(const fs::path& path, const std::string& bytes, bool close_write = true) {
  const SocketAddress address(path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  EXPECT_EQ(::connect(fd, address.get(), address.size()), 0) << std::strerror(errno);
  if (!bytes.empty()) {
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), (ssize_t)bytes.size());
  }
  if (close_write) ::shutdown(fd, SHUT_WR);
  std::string reply;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) reply.append(buf, n);
  ::close(fd);
  return reply;
}

TEST(ControlServer, SocketIsPrivateAndAnswers) {
  TempDir temp;
  Daemon daemon(temp.path());
  const std::string id = daemon.submit();
  struct stat st {};
  ASSERT_EQ(::stat((temp.path() / "control.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());

  auto client = Client::connect(temp.path() / "control.sock");
  ASSERT_TRUE(client.has_value()) << client.error().message;
  std::vector<std::string> ids;
  auto status = client->call({Command::kList, {}, false}, [&](std::string_view line) {
    ids.push_back(Json::parse(line)["queue_id"].get<std::string>());
  });
  ASSERT_TRUE(status.has_value()) << status.error().message;
  EXPECT_EQ((*status)["ok"], true);
  EXPECT_EQ(ids, std::vector<std::string>{id});
  // Several requests on one connection.
  status = client->call({Command::kHold, {id}, false}, [](std::string_view) {});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ((*status)["count"], 1);
  EXPECT_TRUE(daemon.spool.is_held(id));
}

TEST(ControlServer, NotRunningIsToldApart) {
  TempDir temp;
  auto client = Client::connect(temp.path() / "control.sock");
  ASSERT_FALSE(client.has_value());
  EXPECT_EQ(client.error().failure, Client::Failure::kNotRunning);
  { Daemon daemon(temp.path()); }
  EXPECT_FALSE(fs::exists(temp.path() / "control.sock"));  // removed at stop
  // A stale socket file (a crashed daemon): nobody answers.
  const SocketAddress address(temp.path() / "control.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(fd, address.get(), address.size()), 0);
  ::close(fd);
  const auto stale = Client::connect(temp.path() / "control.sock");
  ASSERT_FALSE(stale.has_value());
  EXPECT_EQ(stale.error().failure, Client::Failure::kNotRunning);
  // ... and a new daemon replaces it.
  Daemon daemon(temp.path());
  EXPECT_TRUE(Client::connect(temp.path() / "control.sock").has_value());
}

TEST(ControlServer, ASecondDaemonOnTheSameStateIsRefused) {
  TempDir temp;
  Daemon daemon(temp.path());
  try {
    Server second(Server::Options{.path = temp.path() / "control.sock"});
    FAIL() << "a second server started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another sealpostd is running"), std::string::npos);
  }
  EXPECT_TRUE(Client::connect(temp.path() / "control.sock").has_value());  // still the first
}

TEST(ControlServer, OversizedRequestIsRefusedAndClosed) {
  TempDir temp;
  Daemon daemon(temp.path());
  QuietLogs quiet;
  const std::string reply =
      exchange(temp.path() / "control.sock", std::string(kMaxRequestSize + 2000, 'x'), false);
  EXPECT_EQ(reply, R"({"ok":false,"error":"too-large","message":"request longer than 64 KiB"})"
                   "\n");
}

TEST(ControlServer, SlowOrIdleClientIsCutOff) {
  TempDir temp;
  Daemon daemon(temp.path(), options([](Server::Options& o) { o.read_timeout = 200ms; }));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(exchange(temp.path() / "control.sock", R"({"command":"li)", false), "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(ControlServer, RequestsAndCrLfAndBadLines) {
  TempDir temp;
  Daemon daemon(temp.path());
  QuietLogs quiet;
  const std::string reply =
      exchange(temp.path() / "control.sock", "{\"command\":\"list\"}\r\n\n{\"command\":1}\n");
  EXPECT_EQ(reply,
            "{\"ok\":true,\"count\":0}\n"
            "{\"ok\":false,\"error\":\"bad-request\",\"message\":\"\\\"command\\\" missing\"}\n");
}

TEST(ControlServer, TooManyClientsAreToldBusy) {
  TempDir temp;
  Daemon daemon(temp.path(), options([](Server::Options& o) { o.max_clients = 1; }));
  QuietLogs quiet;
  const SocketAddress address(temp.path() / "control.sock");
  const int first = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(first, address.get(), address.size()), 0);
  std::this_thread::sleep_for(100ms);  // accepted and being served
  EXPECT_NE(exchange(temp.path() / "control.sock", "").find("\"error\":\"busy\""),
            std::string::npos);
  ::close(first);
}

TEST(ControlServer, LongSocketPathsWork) {
  TempDir temp;
  fs::path deep = temp.path();
  while (deep.string().size() < 150) deep /= "a-rather-long-directory-name";
  fs::create_directories(deep);
  Daemon daemon(deep);
  auto client = Client::connect(deep / "control.sock");
  ASSERT_TRUE(client.has_value()) << client.error().message;
  EXPECT_TRUE(client->call({Command::kList, {}, false}, [](std::string_view) {}));
}

TEST(ControlServer, StopCutsAListingShort) {
  TempDir temp;
  auto daemon = std::make_unique<Daemon>(temp.path());
  // About 2 MB of listing: far more than a socket buffer holds.
  const std::vector<std::string> many(100, std::string(200, 'r') + "@example.com");
  for (int i = 0; i < 100; ++i) daemon->submit(many);
  const SocketAddress address(temp.path() / "control.sock");
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::connect(fd, address.get(), address.size()), 0);
  const std::string request = "{\"command\":\"list\"}\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), (ssize_t)request.size());
  std::this_thread::sleep_for(200ms);  // the reply fills the socket buffer; nobody reads it
  const auto start = std::chrono::steady_clock::now();
  daemon->server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ::close(fd);
}

TEST(ControlServer, OtherUsersAreRefusedByPeerCredentials) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to connect as another uid";
  TempDir temp;
  Daemon daemon(temp.path());
  // Let anyone reach the socket, so only the SO_PEERCRED check stands in the way.
  fs::permissions(temp.path(), fs::perms::owner_all | fs::perms::others_exec);
  ::chmod((temp.path() / "control.sock").c_str(), 0666);
  QuietLogs quiet;
  std::string reply;
  // Raw syscalls change this thread's credentials only (glibc's wrappers would change every
  // thread's); SO_PEERCRED reports the effective uid at connect().
  std::thread nobody([&] {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 || ::syscall(SYS_setresgid, -1, 65534, -1) != 0 ||
        ::syscall(SYS_setresuid, -1, 65534, -1) != 0) {
      return;
    }
    reply = exchange(temp.path() / "control.sock", "{\"command\":\"list\"}\n");
  });
  nobody.join();
  EXPECT_EQ(reply,
            "{\"ok\":false,\"error\":\"permission-denied\",\"message\":\"permission denied: only "
            "root and the user sealpostd runs as may use the control socket\"}\n");
}

}  // namespace
}  // namespace sealpost::control
