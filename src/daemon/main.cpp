// sealpostd: reads the configuration (or the embedded dev default), claims the control socket
// (refusing to start if another daemon owns the state directory), recovers the spool, starts
// delivery, the control server and the listeners, and runs until SIGTERM/SIGINT; SIGHUP reloads
// the TLS certificates without dropping sessions. Start-up errors exit 78 (EX_CONFIG) or 1.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <span>

#include "auth/credential_store.hpp"
#include "auth/demo_user.hpp"
#include "auth/password_hash.hpp"
#include "auth/throttle.hpp"
#include "config/config_loader.hpp"
#include "control/handler.hpp"
#include "control/server.hpp"
#include "daemon/banner.hpp"
#include "daemon/log_sink.hpp"
#include "daemon/router.hpp"
#include "daemon/secret.hpp"
#include "delivery/bouncer.hpp"
#include "delivery/mailbox_directory.hpp"
#include "delivery/scheduler.hpp"
#include "net/client_connection.hpp"
#include "net/recipient_policy.hpp"
#include "net/server.hpp"
#include "net/spool_enqueuer.hpp"
#include "queue/spool.hpp"
#include "tls/cert_store.hpp"
#include "tls/self_signed.hpp"

namespace fs = std::filesystem;
using namespace sealpost;

namespace {

constexpr int kExitConfig = 78;  // sysexits.h EX_CONFIG
// How long an info line may wait to share a write with the lines logged after it.
constexpr std::chrono::milliseconds kLogBatchDelay{10};

// Blocks the signals we handle so that every thread inherits the mask and sigwait() in main
// is the one place they arrive.
sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// The batched sink while main runs, for the terminate handler.
std::atomic<daemon::BatchedLogSink*> batched_sink{nullptr};
std::terminate_handler previous_terminate = nullptr;

// An exception that escaped a thread: the lines still waiting for company go out first, then
// the usual handler says what was thrown and aborts.
[[noreturn]] void write_log_and_terminate() {
  if (auto* sink = batched_sink.load()) sink->write_pending_if_free();
  if (previous_terminate) previous_terminate();
  std::abort();
}

// A terminal gets colour and a write per line; a file or journald gets lines in batches
// (daemon/log_sink.hpp): four log lines per message cost four locked write(2)s otherwise.
// Fatal lines (critical, before an abort or a failed start) are warnings or worse, so they
// and every line before them are written at once.
std::shared_ptr<spdlog::logger> make_logger() {
  if (::isatty(STDERR_FILENO)) return spdlog::stderr_color_mt("sealpostd");
  auto sink = std::make_shared<daemon::BatchedLogSink>(STDERR_FILENO, kLogBatchDelay);
  batched_sink = sink.get();
  previous_terminate = std::set_terminate(write_log_and_terminate);
  auto logger = std::make_shared<spdlog::logger>("sealpostd", std::move(sink));
  logger->flush_on(spdlog::level::warn);  // with every line before it
  return logger;
}

// Whichever way main returns (a normal stop, a start-up error), what is logged is written
// before it does, not left to spdlog's registry among the static destructors.
struct WriteLogOnReturn {
  WriteLogOnReturn() = default;
  WriteLogOnReturn(const WriteLogOnReturn&) = delete;
  WriteLogOnReturn& operator=(const WriteLogOnReturn&) = delete;
  ~WriteLogOnReturn() {
    spdlog::default_logger_raw()->flush();
    batched_sink = nullptr;  // the sink itself goes with the registry, after main
  }
};

int run(config::Config cfg, bool embedded) {
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  fs::create_directories(cfg.state_dir);
  ::chmod(cfg.state_dir.c_str(), 0700);
  if (embedded) {
    const auto& pki = cfg.pki.front();
    tls::ensure_self_signed(pki.certs.front(), pki.keys.front(), cfg.hostname);
  }
  tls::CertStore certs(cfg);
  // Bound before the spool is touched: a second daemon on this state directory stops here.
  control::Server control_server(control::Server::Options{.path = cfg.control_socket()});
  queue::Spool spool(cfg.spool_dir());
  delivery::MailboxDirectory directory(cfg);
  auto router = daemon::Router::create(cfg, directory);
  if (!router) {
    spdlog::critical("cannot start: {}", router.error());
    return kExitConfig;
  }
  delivery::Scheduler* scheduler_ptr = nullptr;  // DSNs are enqueued like any message
  delivery::Bouncer bouncer(spool, cfg.hostname, [&scheduler_ptr](std::string id) {
    scheduler_ptr->enqueue(std::move(id));
  });
  delivery::Scheduler::Options scheduler_options;
  scheduler_options.workers = cfg.queue.workers;
  scheduler_options.first_retry = cfg.queue.first_retry;
  scheduler_options.max_retry = cfg.queue.max_retry;
  scheduler_options.lifetime = cfg.queue.lifetime;
  scheduler_options.delay_warning = cfg.queue.delay_warning;
  scheduler_options.bounce = std::ref(bouncer);
  scheduler_options.report_success = [&bouncer](const queue::StoredMessage& m, auto successes) {
    return bouncer.report_success(m, successes);
  };
  scheduler_options.warn_delay = [&bouncer](const queue::StoredMessage& m, auto deferrals,
                                            auto retry_until) {
    return bouncer.warn_delay(m, deferrals, retry_until);
  };
  scheduler_options.destination_concurrency = cfg.queue.destination_concurrency;
  scheduler_options.destinations = [&router](const queue::StoredMessage& m,
                                             std::span<const unsigned> rcpts) {
    return (*router)->destinations(m, rcpts);
  };
  scheduler_options.discard = cfg.queue.discard;
  delivery::Scheduler scheduler(
      spool,
      [&router](const queue::StoredMessage& m, std::span<const unsigned> rcpts) {
        return (*router)->deliver(m, rcpts);
      },
      scheduler_options);
  scheduler_ptr = &scheduler;
  // Accounts: AUTH is offered on submission listeners when a credentials file is configured.
  std::optional<auth::CredentialStore> store;
  std::optional<std::string> demo_password;
  if (!cfg.accounts.file.empty()) {
    if (embedded)
      demo_password = auth::ensure_demo_user(cfg.accounts.file, cfg.accounts.scram_iterations);
    store.emplace(cfg.accounts.file);
    store->load();
  }
  for (const auto& l : cfg.listeners) {
    if (l.role == config::Role::kSubmission && (!store || l.tls == config::TlsMode::kNone)) {
      spdlog::warn(
          "listener {}:{}: role submission without {}: AUTH is not offered and only "
          "local recipients are accepted",
          l.address, l.port, store ? "TLS" : "an [accounts] file");
    }
  }
  auth::Throttle throttle(cfg.auth);
  asio::thread_pool auth_pool(2);  // a login storm queues here, never on an event loop
  net::AuthServices auth_services;
  auth_services.store = store ? &*store : nullptr;
  auth_services.throttle = &throttle;
  auth_services.pool = &auth_pool;
  auth_services.fake_salt_secret = daemon::load_or_create_secret(cfg.state_dir / "auth-secret");
  auth_services.fake_iterations = cfg.accounts.scram_iterations;
  auth_services.dummy_hash = auth::hash_password(daemon::random_token());
  auth::VerifiedCache verified_cache({.ttl = cfg.accounts.auth_cache_ttl});
  auth_services.verified_cache = &verified_cache;
  net::LocalPolicy policy(directory, [&store](const std::string& user, const std::string& address) {
    auto u = store ? store->lookup(user) : nullptr;
    return u && auth::may_send_as(*u, address);
  });
  // Commits go to the spool's committer thread, which batches concurrent sessions' fsyncs.
  net::SpoolEnqueuer enqueuer(spool, scheduler, cfg.hostname, cfg.accounts.expose_user);

  std::vector<net::ListenerContext> contexts;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    net::ListenerContext c;
    c.index = i;
    c.listener = cfg.listeners[i];
    c.limits = cfg.limits;
    c.settings.hostname = cfg.hostname;
    c.settings.max_message_size = cfg.limits.max_message_size;
    c.settings.max_recipients = cfg.limits.max_recipients;
    c.settings.max_bad_commands = cfg.limits.max_bad_commands;
    c.policy = &policy;
    c.certs = &certs;
    c.enqueuer = &enqueuer;
    if (store && c.listener.role == config::Role::kSubmission &&
        c.listener.tls != config::TlsMode::kNone)
      c.auth = &auth_services;
    c.expose_auth_user = cfg.accounts.expose_user;
    contexts.push_back(std::move(c));
  }

  sigset_t signals = handled_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  net::Server server(std::move(contexts), cfg.threads, cfg.limits);

  auto recovered = spool.recover();
  scheduler.start();
  for (auto& id : recovered) scheduler.enqueue(id);
  if (!recovered.empty()) spdlog::info("recovered {} queued message(s)", recovered.size());
  // `sealpost queue`: its own threads, never an SMTP event loop.
  control::Handler control_handler(spool, scheduler);
  control_server.start(control_handler);
  // However run() ends, the control threads stop before what they use is destroyed.
  struct StopControl {
    control::Server& server;
    ~StopControl() { server.stop(); }
  } stop_control{control_server};
  server.start();
  spdlog::info("sealpostd started: {} listener(s), state in {}", cfg.listeners.size(),
               cfg.state_dir.string());
  if (embedded) std::cout << daemon::dev_banner(cfg, demo_password) << std::flush;

  for (;;) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      std::string error = certs.reload();
      if (error.empty()) {
        spdlog::info("SIGHUP: certificates reloaded");
      } else {
        spdlog::error("SIGHUP: reload failed, keeping the old certificates: {}", error);
      }
      continue;
    }
    spdlog::info("{}: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  // Deliveries in flight end now as deferrals (the messages stay queued), not at their deadline.
  net::ClientConnection::abort_all();
  server.shutdown(std::chrono::seconds(10));
  control_server.stop();  // before the scheduler and spool it uses go
  scheduler.stop();
  auth_pool.join();
  spdlog::info("sealpostd stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenSSL writes to the socket with plain write(2), so a peer that resets the connection
  // (after the handshake, or before our close_notify) would raise SIGPIPE and kill the whole
  // daemon. Ignored, the write fails with EPIPE and only that session ends.
  ::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"sealpostd - SMTPS mail server"};
  std::string config_file, check_file, state_dir;
  app.add_option("-c,--config", config_file, "configuration file (TOML); default: dev instance");
  app.add_option("--state-dir", state_dir, "state directory (overrides state_dir)");
  app.add_option("--check-config", check_file,
                 "validate FILE, print the effective configuration and exit");
  app.set_version_flag("--version", "sealpostd 0.1.0");
  CLI11_PARSE(app, argc, argv);

  spdlog::set_default_logger(make_logger());
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  const WriteLogOnReturn write_log_on_return;

  config::Config cfg;
  bool embedded = false;
  try {
    if (!check_file.empty()) {
      cfg = config::load_file(check_file);
      std::cout << config::to_toml(cfg);
      std::cerr << check_file << ": configuration OK\n";
      return 0;
    }
    if (!config_file.empty()) {
      cfg = config::load_file(config_file);
      if (!state_dir.empty()) cfg.state_dir = fs::absolute(state_dir);
    } else {
      embedded = true;
      cfg =
          config::embedded_default(fs::absolute(state_dir.empty() ? "sealpost-state" : state_dir));
    }
  } catch (const config::ConfigError& e) {
    std::cerr << "sealpostd: " << e.what() << "\n";
    return kExitConfig;
  }
  try {
    return run(std::move(cfg), embedded);
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
