// libunbound context setup. The pitfalls seen with a loopback lab (issue 6) are handled here:
// "test." is a built-in local zone that answers NXDOMAIN unless made transparent, and queries
// to localhost are refused unless do-not-query-localhost is off. Both only apply when the user
// named the forwarders (localhost also for resolv.conf's servers); full recursion keeps
// libunbound's defaults (RFC 6761 §6.2).
#include "dns/context.hpp"

#include <unistd.h>

namespace sealpost::dns::detail {

namespace {

std::string ub_error(int rc) { return ub_strerror(rc); }

bool readable(const std::string& file) { return ::access(file.c_str(), R_OK) == 0; }

}  // namespace

std::expected<UbCtx, std::string> make_context(const ResolverOptions& o) {
  UbCtx ctx(ub_ctx_create());
  if (!ctx) return std::unexpected("cannot create a libunbound context");
  if (!o.forwarders.empty()) {
    for (const auto& fwd : o.forwarders)
      if (int rc = ub_ctx_set_fwd(ctx.get(), fwd.c_str()); rc != 0)
        return std::unexpected("forwarder '" + fwd + "': " + ub_error(rc) +
                               " (expected IP or IP@PORT)");
    if (int rc = ub_ctx_set_option(ctx.get(), "do-not-query-localhost:", "no"); rc != 0)
      return std::unexpected("do-not-query-localhost: " + ub_error(rc));
    // As an option, not ub_ctx_zone_add(): that finalizes the context (no more anchors).
    if (int rc = ub_ctx_set_option(ctx.get(), "local-zone:", "test. transparent"); rc != 0)
      return std::unexpected("local-zone test.: " + ub_error(rc));
  } else if (o.use_resolv_conf) {
    if (int rc = ub_ctx_resolvconf(ctx.get(), nullptr); rc != 0)
      return std::unexpected("resolv.conf: " + ub_error(rc));
    // resolv.conf often names a local stub (127.0.0.53, 127.0.0.1): chosen by the admin.
    if (int rc = ub_ctx_set_option(ctx.get(), "do-not-query-localhost:", "no"); rc != 0)
      return std::unexpected("do-not-query-localhost: " + ub_error(rc));
  }
  if (o.validate) {
    std::vector<std::string> anchors = o.trust_anchor_files;
    if (anchors.empty())
      for (const char* f : kRootAnchorFiles)
        if (readable(f)) {
          anchors.emplace_back(f);
          break;
        }
    if (anchors.empty())
      return std::unexpected(
          "no DNSSEC trust anchor: none given and no root anchor in /usr/share/dns/root.key or "
          "/var/lib/unbound/root.key (install dns-root-data)");
    for (const auto& file : anchors) {
      // libunbound reads the file only at the first query; say now what is wrong with it.
      if (!readable(file)) return std::unexpected("trust anchor " + file + ": cannot read");
      if (int rc = ub_ctx_add_ta_file(ctx.get(), file.c_str()); rc != 0)
        return std::unexpected("trust anchor " + file + ": " + ub_error(rc));
    }
  }
  if (int rc = ub_ctx_async(ctx.get(), 1); rc != 0)
    return std::unexpected("libunbound async mode: " + ub_error(rc));
  return ctx;
}

Answer to_answer(std::string_view qname, RrType type, ub_result* result) {
  Answer a;
  a.qname = std::string(qname);
  a.qtype = type;
  a.rcode = result->rcode;
  a.nxdomain = result->nxdomain != 0;
  a.has_data = result->havedata != 0;
  a.security = result->secure  ? Security::kSecure
               : result->bogus ? Security::kBogus
                               : Security::kInsecure;
  if (result->why_bogus != nullptr) a.why_bogus = result->why_bogus;
  if (result->canonname != nullptr) a.canonical_name = result->canonname;
  if (a.has_data) {
    a.ttl = result->ttl > 0 ? static_cast<std::uint32_t>(result->ttl) : 0;
    for (int i = 0; result->data != nullptr && result->data[i] != nullptr; ++i) {
      auto* p = reinterpret_cast<const std::uint8_t*>(result->data[i]);
      a.rdata.emplace_back(p, p + result->len[i]);
    }
  }
  ub_resolve_free(result);
  return a;
}

bool usable_name(std::string_view name) {
  return !name.empty() && name.find('\0') == std::string_view::npos;
}

}  // namespace sealpost::dns::detail
