// The blocking resolver for one-shot commands: the same libunbound context setup, one query at
// a time, poll(2) on ub_fd() until the answer or the deadline (then the query is cancelled).
#include <poll.h>

#include <cerrno>
#include <utility>

#include "dns/context.hpp"
#include "dns/resolver.hpp"

namespace sealpost::dns {

struct BlockingResolver::Impl {
  detail::UbCtx ctx;
  std::chrono::milliseconds timeout;

  struct Slot {
    bool done = false;
    int err = 0;
    ub_result* result = nullptr;
  };

  static void on_result(void* data, int err, ub_result* result) {
    auto* slot = static_cast<Slot*>(data);
    slot->done = true;
    slot->err = err;
    slot->result = result;
  }

  // On every way out of resolve(): a query still running is cancelled (libunbound holds a
  // pointer to the Slot on our stack and a later ub_process would write through it), and a
  // result nobody took is freed.
  struct QueryGuard {
    ub_ctx* ctx;
    int id;
    Slot& slot;
    ~QueryGuard() {
      if (!slot.done) {
        ub_cancel(ctx, id);
      } else if (slot.result != nullptr) {
        ub_resolve_free(slot.result);
      }
    }
  };
};

std::expected<BlockingResolver, std::string> BlockingResolver::create(
    const ResolverOptions& options) {
  auto ctx = detail::make_context(options);
  if (!ctx) return std::unexpected(ctx.error());
  return BlockingResolver(std::make_unique<Impl>(Impl{std::move(*ctx), options.timeout}));
}

BlockingResolver::BlockingResolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlockingResolver::~BlockingResolver() = default;
BlockingResolver::BlockingResolver(BlockingResolver&&) noexcept = default;
BlockingResolver& BlockingResolver::operator=(BlockingResolver&&) noexcept = default;

Result BlockingResolver::resolve(std::string_view name, RrType type) {
  if (!detail::usable_name(name)) return std::unexpected("invalid query name");
  std::string qname(name);
  Impl::Slot slot;
  int id = 0;
  int rc = ub_resolve_async(impl_->ctx.get(), qname.c_str(), static_cast<int>(type), 1, &slot,
                            &Impl::on_result, &id);
  if (rc != 0) return std::unexpected(qname + ": " + ub_strerror(rc));
  Impl::QueryGuard guard{impl_->ctx.get(), id, slot};
  auto deadline = std::chrono::steady_clock::now() + impl_->timeout;
  while (!slot.done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::unexpected(qname + ": no answer within " +
                             std::to_string(impl_->timeout.count()) + " ms");
    pollfd p{ub_fd(impl_->ctx.get()), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return std::unexpected(qname + ": poll failed");
    if (n > 0 && (rc = ub_process(impl_->ctx.get())) != 0)
      return std::unexpected(qname + ": " + ub_strerror(rc));
  }
  if (slot.err != 0) return std::unexpected(qname + ": " + ub_strerror(slot.err));
  return detail::to_answer(qname, type, std::exchange(slot.result, nullptr));  // frees it
}

}  // namespace sealpost::dns
