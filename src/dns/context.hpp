// Internal to src/dns: a libunbound context configured from ResolverOptions (upstream, trust
// anchors, the test./localhost pitfalls) and the conversion of a ub_result into an Answer.
#pragma once

#include <unbound.h>

#include <expected>
#include <memory>
#include <string>

#include "dns/resolver.hpp"

namespace sealpost::dns::detail {

struct UbCtxDelete {
  void operator()(ub_ctx* ctx) const { ub_ctx_delete(ctx); }
};
using UbCtx = std::unique_ptr<ub_ctx, UbCtxDelete>;

// A context in threaded async mode (ub_fd() signals finished queries).
std::expected<UbCtx, std::string> make_context(const ResolverOptions& options);

// Takes ownership of `result` (frees it).
Answer to_answer(std::string_view qname, RrType type, ub_result* result);

// `name` usable as a query name: not empty, no NUL byte (libunbound takes a C string).
bool usable_name(std::string_view name);

}  // namespace sealpost::dns::detail
