// Resolvers for the delivery threads: a libunbound context is used by one thread at a time,
// and a fresh one per message throws its cache away. The pool hands each deliver() call an
// idle resolver (creating one when all are busy) and takes it back afterwards, so there are
// about as many as concurrent deliveries, and their caches live on across messages.
#pragma once

#include <cstddef>
#include <expected>
#include <mutex>
#include <string>
#include <vector>

#include "dns/resolver.hpp"

namespace sealpost::delivery::remote {

class ResolverPool {
 public:
  explicit ResolverPool(dns::ResolverOptions options, std::size_t max_idle = 64);
  ResolverPool(const ResolverPool&) = delete;
  ResolverPool& operator=(const ResolverPool&) = delete;

  // Returns its resolver to the pool when destroyed; must not outlive the pool.
  class Lease {
   public:
    Lease(ResolverPool& pool, dns::BlockingResolver resolver);
    ~Lease();
    Lease(Lease&&) = delete;  // lives on one deliver() call's stack
    dns::BlockingResolver& operator*() { return resolver_; }

   private:
    ResolverPool& pool_;
    dns::BlockingResolver resolver_;
  };

  // An idle resolver, or a new one (fails only on a bad resolver setup).
  std::expected<dns::BlockingResolver, std::string> take();
  void give_back(dns::BlockingResolver resolver);
  std::size_t idle() const;

 private:
  dns::ResolverOptions options_;
  std::size_t max_idle_;
  mutable std::mutex mutex_;
  std::vector<dns::BlockingResolver> idle_;  // LIFO: the most recently used has the warmest cache
};

}  // namespace sealpost::delivery::remote
