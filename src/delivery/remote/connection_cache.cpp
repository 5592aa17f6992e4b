// ConnectionCache: a short list of idle connections (a few dozen at most, so a linear scan),
// oldest first, and one reaper thread that sleeps until the next expiry. Connections leave the
// list under the lock and are closed outside it: a QUIT never holds up another thread's take().
#include "delivery/remote/connection_cache.hpp"

#include <algorithm>

#include "net/client_dialogue.hpp"

namespace sealpost::delivery::remote {

namespace {

// RFC 5321 §4.1.1.10 asks the client to wait for QUIT's reply; for an idle connection that is
// a courtesy, so it never costs more than a moment.
constexpr std::chrono::seconds kQuitWait{2};

}  // namespace

ConnectionKey connection_key(std::string host, std::string address, int port,
                             const tls::Requirement& requirement) {
  ConnectionKey k;
  k.host = std::move(host);
  k.address = std::move(address);
  k.port = port;
  k.policy = requirement.policy;
  k.attempt_tls = requirement.attempt_tls;
  k.tls_required = requirement.tls_required;
  k.verification = requirement.verification;
  k.reference_name = requirement.reference_name;
  k.tlsa = requirement.tlsa;
  return k;
}

void close_kept(KeptConnection& c) {
  if (!c.conn) return;
  // A peer that already closed (or spoke out of turn) gets no QUIT: just the close.
  if (c.session && c.session->idle() && c.conn->idle_and_silent()) {
    c.session->quit();
    net::converse(*c.session, *c.conn, net::Clock::now() + kQuitWait, [] { return false; });
  }
  c.conn->close();
}

ConnectionCache::ConnectionCache(ConnectionCacheLimits limits) : limits_(limits) {
  if (enabled()) reaper_ = std::thread([this] { reap(); });
}

ConnectionCache::~ConnectionCache() {
  std::vector<Entry> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left = std::move(idle_);
    idle_.clear();
  }
  wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
  for (Entry& e : left) close_kept(*e.connection);
}

bool ConnectionCache::worn_out(const KeptConnection& c, Clock::time_point now) const {
  return c.transactions >= limits_.max_transactions || now - c.created >= limits_.max_age;
}

bool ConnectionCache::expired(const KeptConnection& c, Clock::time_point now) const {
  return now >= expiry(c);
}

ConnectionCache::Clock::time_point ConnectionCache::expiry(const KeptConnection& c) const {
  return std::min(c.idle_since + limits_.idle_time, c.created + limits_.max_age);
}

std::unique_ptr<KeptConnection> ConnectionCache::take(const ConnectionKey& key,
                                                      Clock::time_point now) {
  std::vector<std::unique_ptr<KeptConnection>> stale;
  std::unique_ptr<KeptConnection> found;
  {
    std::lock_guard lock(mutex_);
    // Newest first: the one least likely to have been dropped by the server meanwhile.
    for (std::size_t i = idle_.size(); i-- > 0;) {
      if (idle_[i].key != key) continue;
      std::unique_ptr<KeptConnection> c = std::move(idle_[i].connection);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      if (expired(*c, now)) {
        stale.push_back(std::move(c));
        continue;
      }
      found = std::move(c);
      break;
    }
  }
  for (auto& c : stale) close_kept(*c);
  return found;
}

void ConnectionCache::keep(ConnectionKey key, std::unique_ptr<KeptConnection> c,
                           Clock::time_point now) {
  if (!c) return;
  if (!enabled() || worn_out(*c, now) || !c->session || !c->session->idle()) {
    close_kept(*c);
    return;
  }
  c->idle_since = now;
  std::unique_ptr<KeptConnection> evicted;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      evicted = std::move(c);
    } else {
      if (idle_.size() >= limits_.max_idle) {
        evicted = std::move(idle_.front().connection);
        idle_.erase(idle_.begin());
      }
      idle_.push_back(Entry{std::move(key), std::move(c)});
    }
  }
  wake_.notify_all();  // the reaper may need to wake earlier than it planned
  if (evicted) close_kept(*evicted);
}

std::size_t ConnectionCache::close_expired(Clock::time_point now) {
  std::vector<std::unique_ptr<KeptConnection>> stale;
  {
    std::lock_guard lock(mutex_);
    for (auto it = idle_.begin(); it != idle_.end();) {
      if (expired(*it->connection, now)) {
        stale.push_back(std::move(it->connection));
        it = idle_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& c : stale) close_kept(*c);
  return stale.size();
}

std::size_t ConnectionCache::size() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

void ConnectionCache::reap() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (idle_.empty()) {
      wake_.wait(lock);
      continue;
    }
    Clock::time_point next = Clock::time_point::max();
    for (const Entry& e : idle_) next = std::min(next, expiry(*e.connection));
    if (Clock::now() < next) {
      wake_.wait_until(lock, next);
      continue;
    }
    lock.unlock();
    close_expired(Clock::now());
    lock.lock();
  }
}

}  // namespace sealpost::delivery::remote
