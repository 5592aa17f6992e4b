// ResolverPool: a vector under a mutex. A resolver is created outside the lock (libunbound
// setup reads trust anchor files), and one beyond max_idle is simply dropped.
#include "delivery/remote/resolver_pool.hpp"

namespace sealpost::delivery::remote {

ResolverPool::ResolverPool(dns::ResolverOptions options, std::size_t max_idle)
    : options_(std::move(options)), max_idle_(max_idle) {}

std::expected<dns::BlockingResolver, std::string> ResolverPool::take() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      dns::BlockingResolver r = std::move(idle_.back());
      idle_.pop_back();
      return r;
    }
  }
  return dns::BlockingResolver::create(options_);
}

void ResolverPool::give_back(dns::BlockingResolver resolver) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(resolver));
}

std::size_t ResolverPool::idle() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

ResolverPool::Lease::Lease(ResolverPool& pool, dns::BlockingResolver resolver)
    : pool_(pool), resolver_(std::move(resolver)) {}

ResolverPool::Lease::~Lease() { pool_.give_back(std::move(resolver_)); }

}  // namespace sealpost::delivery::remote
