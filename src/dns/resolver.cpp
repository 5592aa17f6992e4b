// The asynchronous resolver. One libunbound context in threaded async mode; its ub_fd() is
// read-ready when finished queries wait, and ub_process() runs their callbacks. We wait on the
// fd only while queries are outstanding, so an idle resolver keeps no work on the io_context.
// Completions are posted, so a callback may start new lookups; each query has a deadline.
#include "dns/resolver.hpp"

#include <asio/error.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <map>

#include "dns/context.hpp"

namespace sealpost::dns {

struct Resolver::Impl : std::enable_shared_from_this<Resolver::Impl> {
  struct Pending {
    Impl* impl = nullptr;
    std::uint64_t key = 0;
    int async_id = 0;
    std::string name;
    RrType type = RrType::kA;
    std::function<void(Result)> done;
    std::unique_ptr<asio::steady_timer> timer;
  };

  Impl(asio::io_context& io, detail::UbCtx ctx, std::chrono::milliseconds timeout)
      : io_(io), ctx_(std::move(ctx)), fd_(io, ub_fd(ctx_.get())), timeout_(timeout) {}

  ~Impl() {
    for (auto& [key, p] : pending_) ub_cancel(ctx_.get(), p->async_id);
    pending_.clear();
    asio::error_code ignored;
    fd_.cancel(ignored);
    fd_.release();  // the fd belongs to libunbound
  }

  void resolve(std::string_view name, RrType type, std::function<void(Result)> done) {
    if (!detail::usable_name(name)) {
      finish(std::move(done), std::unexpected("invalid query name"));
      return;
    }
    auto p = std::make_unique<Pending>();
    p->impl = this;
    p->key = ++next_key_;
    p->name = std::string(name);
    p->type = type;
    p->done = std::move(done);
    int rc = ub_resolve_async(ctx_.get(), p->name.c_str(), static_cast<int>(type), 1 /* IN */,
                              p.get(), &Impl::on_result, &p->async_id);
    if (rc != 0) {
      finish(std::move(p->done), std::unexpected(p->name + ": " + ub_strerror(rc)));
      return;
    }
    p->timer = std::make_unique<asio::steady_timer>(io_, timeout_);
    p->timer->async_wait([weak = weak_from_this(), key = p->key](const asio::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->expire(key);
    });
    pending_.emplace(p->key, std::move(p));
    wait();
  }

 private:
  static void on_result(void* data, int err, ub_result* result) {
    auto* p = static_cast<Pending*>(data);
    Impl* self = p->impl;
    auto node = self->pending_.extract(p->key);
    if (node.empty()) {  // cannot happen: cancelled queries get no callback
      if (result != nullptr) ub_resolve_free(result);
      return;
    }
    if (err != 0) {
      if (result != nullptr) ub_resolve_free(result);
      self->finish(std::move(p->done), std::unexpected(p->name + ": " + ub_strerror(err)));
    } else {
      self->finish(std::move(p->done), detail::to_answer(p->name, p->type, result));
    }
    // node (and its timer) dies here; a timer handler already queued finds no key.
  }

  void expire(std::uint64_t key) {
    auto node = pending_.extract(key);
    if (node.empty()) return;
    Pending& p = *node.mapped();
    ub_cancel(ctx_.get(), p.async_id);
    if (pending_.empty()) {  // stop watching the fd, so that an idle loop can finish
      asio::error_code ignored;
      fd_.cancel(ignored);
    }
    finish(std::move(p.done), std::unexpected(p.name + ": no answer within " +
                                              std::to_string(timeout_.count()) + " ms"));
  }

  // Posted, never called inline; a completion still queued when the Resolver dies is dropped
  // (~Resolver promises no callback after destruction).
  void finish(std::function<void(Result)> done, Result result) {
    asio::post(io_, [alive = weak_from_this(), done = std::move(done),
                     result = std::move(result)]() mutable {
      if (alive.expired()) return;
      done(std::move(result));
    });
  }

  void wait() {
    if (waiting_ || pending_.empty()) return;
    waiting_ = true;
    fd_.async_wait(asio::posix::stream_descriptor::wait_read,
                   [weak = weak_from_this()](const asio::error_code& ec) {
                     auto self = weak.lock();
                     if (!self) return;
                     self->waiting_ = false;
                     // Cancelled because the last query expired: a lookup started since then
                     // still needs the fd watched.
                     if (ec && ec != asio::error::operation_aborted) {
                       self->fail_all("watching libunbound's descriptor: " + ec.message());
                       return;
                     }
                     if (!ec) ub_process(self->ctx_.get());
                     self->wait();
                   });
  }

  void fail_all(const std::string& why) {
    auto pending = std::move(pending_);
    pending_.clear();
    for (auto& [key, p] : pending) {
      ub_cancel(ctx_.get(), p->async_id);
      finish(std::move(p->done), std::unexpected(p->name + ": " + why));
    }
  }

  asio::io_context& io_;
  detail::UbCtx ctx_;
  asio::posix::stream_descriptor fd_;
  std::chrono::milliseconds timeout_;
  std::map<std::uint64_t, std::unique_ptr<Pending>> pending_;
  std::uint64_t next_key_ = 0;
  bool waiting_ = false;
};

std::expected<std::unique_ptr<Resolver>, std::string> Resolver::create(
    asio::io_context& io, const ResolverOptions& options) {
  auto ctx = detail::make_context(options);
  if (!ctx) return std::unexpected(ctx.error());
  auto impl = std::make_shared<Impl>(io, std::move(*ctx), options.timeout);
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::Resolver(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Resolver::~Resolver() = default;

void Resolver::resolve(std::string_view name, RrType type, std::function<void(Result)> done) {
  impl_->resolve(name, type, std::move(done));
}

}  // namespace sealpost::dns
