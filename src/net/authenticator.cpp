// Authenticator: the policy around the SASL state machines. Order of checks per exchange:
// address throttle (454 before any password work) → mechanism → password on the pool →
// account lock → authzid → success, or a failure whose 535 is delayed by the throttle.
#include "net/authenticator.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "auth/password_hash.hpp"
#include "sasl/base64.hpp"

namespace sealpost::net {

namespace {

constexpr auto kAwait = asio::experimental::as_tuple(asio::use_awaitable);

// SCRAM needs stored keys; locked accounts and users without SCRAM secrets look unknown.
class StoreLookup : public sasl::CredentialLookup {
 public:
  explicit StoreLookup(std::shared_ptr<const auth::Users> users) : users_(std::move(users)) {}
  std::optional<sasl::ScramCredentials> scram_sha256(std::string_view authcid) const override {
    const auth::User* user = users_ ? users_->find(authcid) : nullptr;
    if (!user || user->locked() || !user->scram) return std::nullopt;
    sasl::ScramCredentials c;
    c.salt = user->scram->salt;
    c.iterations = user->scram->iterations;
    c.stored_key = user->scram->stored_key;
    c.server_key = user->scram->server_key;
    return c;
  }

 private:
  std::shared_ptr<const auth::Users> users_;
};

// 24 printable characters from 18 random bytes (base64 has no ',').
std::string make_nonce() {
  unsigned char raw[18];
  RAND_bytes(raw, sizeof raw);
  return sasl::base64_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw));
}

std::string certificate_sha256(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return {};
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex.push_back(kHex[md[i] >> 4]);
    hex.push_back(kHex[md[i] & 15]);
  }
  return hex;
}

}  // namespace

std::vector<std::string> Authenticator::on_tls(SSL* ssl) {
  tls_exporter_.clear();
  if (SSL_version(ssl) == TLS1_3_VERSION) {
    // RFC 9266 §2: 32 bytes, label "EXPORTER-Channel-Binding", no context.
    static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
    unsigned char out[32];
    if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0,
                                   0) == 1)
      tls_exporter_.assign(reinterpret_cast<char*>(out), sizeof out);
  }
  certificate_user_.clear();
  std::string fingerprint = certificate_sha256(ssl);
  if (!fingerprint.empty() && services_.store) {
    // A mapping made by `sealpost user cert` while we run must be seen here too, before the
    // EHLO that offers EXTERNAL (stat at most once a second, as before an AUTH).
    services_.store->refresh();
    auto user = services_.store->user_for_certificate(fingerprint);
    if (user && !user->locked()) certificate_user_ = user->name;
  }
  std::vector<std::string> mechanisms;
  if (!tls_exporter_.empty()) mechanisms.push_back("SCRAM-SHA-256-PLUS");
  mechanisms.push_back("SCRAM-SHA-256");
  mechanisms.push_back("PLAIN");
  mechanisms.push_back("LOGIN");
  if (!certificate_user_.empty()) mechanisms.push_back("EXTERNAL");
  return mechanisms;
}

asio::awaitable<smtp::AuthResult> Authenticator::step(const smtp::AuthRequest& request) {
  using Kind = smtp::AuthResult::Kind;
  std::optional<std::string> decoded;
  if (request.response) {
    decoded = sasl::base64_decode(*request.response);
    if (!decoded) {
      mechanism_.reset();
      spdlog::info("[{}] AUTH {}: undecodable base64", peer_, request.mechanism);
      co_return smtp::AuthResult{Kind::kMalformed, {}, {}};
    }
  }
  sasl::Step step;
  if (request.initial) {
    auto verdict = services_.throttle->before_attempt(peer_, "");
    if (verdict.refuse) {
      spdlog::warn("[{}] AUTH refused: address locked out for {}s after repeated failures", peer_,
                   verdict.retry_after.count());
      co_return smtp::AuthResult{Kind::kTemporaryFailure, {}, {}};
    }
    services_.store->refresh();  // picks up `sealpost user` edits (stat at most once a second)
    lookup_ = std::make_unique<StoreLookup>(services_.store->users());
    sasl::MechanismContext context;
    context.lookup = lookup_.get();
    context.server_nonce = make_nonce();
    context.fake_salt_secret = services_.fake_salt_secret;
    context.fake_iterations = services_.fake_iterations;
    context.tls_exporter = tls_exporter_;
    context.external_identity = certificate_user_;
    mechanism_ = sasl::make_server_mechanism(request.mechanism, context);
    if (!mechanism_) co_return smtp::AuthResult{Kind::kMalformed, {}, {}};
    step = mechanism_->start(decoded ? std::optional<std::string_view>(*decoded) : std::nullopt);
  } else {
    if (!mechanism_) co_return smtp::AuthResult{Kind::kMalformed, {}, {}};
    step = mechanism_->step(decoded ? *decoded : std::string());
  }

  switch (step.status) {
    case sasl::Status::kChallenge:
      co_return smtp::AuthResult{Kind::kChallenge, sasl::base64_encode(step.data), {}};
    case sasl::Status::kSuccess:
      co_return co_await finish(true);
    case sasl::Status::kVerifyPassword: {
      const std::string authcid = mechanism_->identity().authcid;
      if (services_.throttle->before_attempt(peer_, authcid).refuse) {
        mechanism_->clear_password();
        spdlog::warn("[{}] AUTH refused for {}: locked out after repeated failures", peer_,
                     authcid);
        co_return smtp::AuthResult{Kind::kTemporaryFailure, {}, {}};
      }
      auto user = services_.store->lookup(authcid);
      std::string hash = user && !user->locked() ? user->password_hash : services_.dummy_hash;
      std::string password = mechanism_->identity().password;
      mechanism_->clear_password();
      const bool live = user && !user->locked();
      auth::VerifiedCache* cache = live ? services_.verified_cache : nullptr;
      const bool cached = cache && cache->contains(authcid, password, hash);
      bool ok = cached;
      if (!ok) {
        auto caller = co_await asio::this_coro::executor;
        co_await asio::post(*services_.pool, asio::use_awaitable);
        ok = auth::verify_password(password, hash);
        co_await asio::post(caller, asio::use_awaitable);
        if (ok && cache) cache->insert(authcid, password, hash);
      }
      std::fill(password.begin(), password.end(), '\0');
      co_return co_await finish(ok && live, cached);
    }
    case sasl::Status::kFailure:
      switch (step.failure) {
        case sasl::Failure::kMalformed:
          spdlog::info("[{}] AUTH {}: malformed exchange: {}", peer_, request.mechanism,
                       step.reason);
          mechanism_.reset();
          co_return smtp::AuthResult{Kind::kMalformed, {}, {}};
        case sasl::Failure::kUnavailable:
          spdlog::info("[{}] AUTH {} unavailable: {}", peer_, request.mechanism, step.reason);
          mechanism_.reset();
          co_return smtp::AuthResult{Kind::kTemporaryFailure, {}, {}};
        default:
          co_return co_await fail(step.reason);
      }
  }
  co_return co_await fail("unexpected mechanism state");
}

asio::awaitable<smtp::AuthResult> Authenticator::finish(bool ok, bool cached) {
  if (!ok) co_return co_await fail("bad credentials");
  const sasl::Identity& id = mechanism_->identity();
  auto user = services_.store->lookup(id.authcid);
  if (!user || user->locked()) co_return co_await fail("account locked or removed");
  std::string effective = user->name;
  if (!id.authzid.empty() && id.authzid != user->name) {
    // RFC 4616 §2: acting as someone else is a privilege, refused unless configured (authz=*).
    auto target = services_.store->lookup(id.authzid);
    if (!auth::may_act_as(*user, id.authzid) || !target || target->locked())
      co_return co_await fail("authzid " + id.authzid + " not permitted");
    effective = target->name;
  }
  services_.throttle->after_success(peer_, id.authcid);
  spdlog::info("[{}] AUTH {} succeeded: user={}{}{}", peer_, mechanism_->name(), user->name,
               effective != user->name ? " as " + effective : "",
               cached ? " (password verified from cache)" : "");
  mechanism_.reset();
  co_return smtp::AuthResult{smtp::AuthResult::Kind::kSuccess, {}, effective};
}

asio::awaitable<smtp::AuthResult> Authenticator::fail(const std::string& why) {
  std::string authcid = mechanism_ ? mechanism_->identity().authcid : std::string();
  std::string name = mechanism_ ? std::string(mechanism_->name()) : std::string("?");
  mechanism_.reset();
  auto delay = services_.throttle->after_failure(peer_, authcid);
  spdlog::warn("[{}] AUTH {} failed: user={} ({}); reply delayed {}ms", peer_, name,
               authcid.empty() ? "-" : authcid, why, delay.count());
  if (delay.count() > 0) {
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    co_await timer.async_wait(kAwait);
  }
  co_return smtp::AuthResult{smtp::AuthResult::Kind::kBadCredentials, {}, {}};
}

}  // namespace sealpost::net
