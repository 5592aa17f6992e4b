// discover(): TXT -> tls::next_step(record, cached) -> cached policy, fetch, or none. A fetch
// that fails keeps an unexpired cached policy in force (RFC 8461 §5.1); without one the domain
// is treated as having no policy, which is what §3.3 asks (fail open on discovery, never on an
// enforced policy once known).
#include "delivery/remote/mta_sts_discovery.hpp"

#include <chrono>

#include "delivery/remote/mx_plan.hpp"

namespace sealpost::delivery::remote {

namespace {

constexpr std::size_t kMaxPolicyAddresses = 4;  // mta-sts.DOMAIN addresses handed to curl

std::string describe(const tls::MtaStsEntry& e) {
  return std::string("mode=") + tls::mta_sts_mode_name(e.policy.mode) + " id=" + e.id;
}

}  // namespace

MtaStsDiscovery::MtaStsDiscovery(PolicyFetchSettings fetch, std::size_t cache_size,
                                 std::string cache_dir)
    : fetch_settings_(std::move(fetch)), cache_(cache_size), store_(std::move(cache_dir)) {
  init_policy_fetch();
}

MtaStsFound MtaStsDiscovery::discover(const std::string& domain, dns::BlockingResolver& resolver) {
  auto now = std::chrono::system_clock::now();
  // §3.1: the TXT record. A failed or bogus lookup counts as no record: the cache decides.
  std::optional<tls::MtaStsRecord> record;
  std::string txt_problem;
  dns::Result txt = resolver.resolve("_mta-sts." + domain, dns::RrType::kTxt);
  if (!txt) {
    txt_problem = "TXT lookup failed (" + txt.error() + ")";
  } else if (txt->bogus()) {
    txt_problem = "TXT lookup is DNSSEC-bogus";
  } else if (txt->has_data) {
    std::vector<std::string> texts;
    for (const dns::TxtRecord& r : txt->txt().records) texts.push_back(r.joined());
    record = tls::select_mta_sts_record(texts);
    if (!record) txt_problem = "no single valid STSv1 TXT record";
  }
  std::optional<tls::MtaStsEntry> cached = cache_.find(domain, now);
  if (!cached && (cached = store_.load(domain, now))) cache_.store(domain, *cached, now);

  std::string prefix = "mta-sts: domain=" + domain + " ";
  switch (tls::next_step(record, cached)) {
    case tls::MtaStsStep::kNoPolicy:
      return {std::nullopt, txt_problem.empty() ? "" : prefix + txt_problem + ": no policy"};
    case tls::MtaStsStep::kUseCached:
      return {cached->policy,
              prefix + "cached policy " + describe(*cached) +
                  (record ? ""
                          : " (" + (txt_problem.empty() ? "no TXT record" : txt_problem) +
                                ": kept until it expires)")};
    case tls::MtaStsStep::kFetch:
      break;
  }
  auto fetched = fetch(domain, record->id, resolver);
  if (fetched) {
    cache_.store(domain, *fetched, now);
    store_.save(domain, *fetched);
    return {fetched->policy, prefix + "fetched policy " + describe(*fetched)};
  }
  if (cached)  // §5.1: a failed refresh does not drop an unexpired policy
    return {cached->policy, prefix + "policy fetch failed (" + fetched.error() +
                                "); cached policy " + describe(*cached) + " stays in force"};
  return {std::nullopt, prefix + "policy fetch failed (" + fetched.error() + "): no policy"};
}

std::expected<tls::MtaStsEntry, std::string> MtaStsDiscovery::fetch(
    const std::string& domain, const std::string& id, dns::BlockingResolver& resolver) {
  std::string host = "mta-sts." + domain;
  AddressPlan addresses = plan_addresses(host, resolver.resolve(host, dns::RrType::kAaaa),
                                         resolver.resolve(host, dns::RrType::kA));
  if (addresses.addresses.empty()) return std::unexpected(addresses.error);
  if (addresses.addresses.size() > kMaxPolicyAddresses)
    addresses.addresses.resize(kMaxPolicyAddresses);
  auto body = fetch_policy(domain, addresses.addresses, fetch_settings_);
  if (!body) return std::unexpected(body.error());
  std::string error;
  auto policy = tls::parse_mta_sts_policy(*body, &error);
  if (!policy) return std::unexpected("invalid policy: " + error);
  auto expires = std::chrono::system_clock::now() + std::chrono::seconds(policy->max_age);
  return tls::MtaStsEntry{id, std::move(*policy), expires};
}

}  // namespace sealpost::delivery::remote
