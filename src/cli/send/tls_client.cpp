// TlsClient: POSIX socket + OpenSSL client. Verification failures are reported with OpenSSL's
// verify result text so the one-line error says why (wrong name, untrusted issuer, expired).
#include "cli/send/tls_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sasl/base64.hpp"

namespace sealpost::send {

namespace {

std::string openssl_error(std::string_view fallback) {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

}  // namespace

TlsClient::~TlsClient() { close(); }

void TlsClient::close() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (ctx_ != nullptr) {
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

ConnectStatus TlsClient::connect(const std::string& host, int port, std::chrono::seconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    error_ = "cannot resolve " + host + ": " + gai_strerror(rc);
    return rc == EAI_AGAIN ? ConnectStatus::kTempDns : ConnectStatus::kNoHost;
  }
  std::string last = "no address";
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      r = ::poll(&p, 1, static_cast<int>(timeout.count() * 1000));
      if (r == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        r = err == 0 ? 0 : -1;
        errno = err;
      } else {
        if (r == 0) errno = ETIMEDOUT;
        r = -1;
      }
    }
    if (r == 0) {
      ::fcntl(fd, F_SETFL, flags);  // blocking again; timeouts via SO_RCVTIMEO/SO_SNDTIMEO
      fd_ = fd;
      ::freeaddrinfo(list);
      return ConnectStatus::kOk;
    }
    last = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(list);
  error_ = "cannot connect to " + host + " port " + service + ": " + last;
  return ConnectStatus::kFailed;
}

void TlsClient::set_timeout(std::chrono::seconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() > 0 ? timeout.count() : 300);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool TlsClient::start_tls(const TlsParams& params, std::chrono::seconds timeout) {
  ERR_clear_error();
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return error_ = openssl_error("SSL_CTX_new failed"), false;
  // RFC 8996 retires TLS 1.0/1.1; RFC 8314 §4.1 asks for a current version.
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  int loaded = params.ca_file.empty()
                   ? SSL_CTX_set_default_verify_paths(ctx_)
                   : SSL_CTX_load_verify_locations(ctx_, params.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    error_ = "cannot load CA certificates" +
             (params.ca_file.empty() ? std::string() : " from " + params.ca_file) + ": " +
             openssl_error("unknown error");
    return false;
  }
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr) return error_ = openssl_error("SSL_new failed"), false;
  const std::string& name = params.server_name;
  if (is_ip_literal(name)) {
    // RFC 6066 §3: no IP literals in SNI; the certificate must carry an IP SAN.
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, name.c_str());
    // RFC 6125: DNS-ID only, a wildcard only as the whole left-most label.
    SSL_set_hostflags(ssl_, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl_, name.c_str());
    for (const auto& other : params.also_accept) SSL_add1_host(ssl_, other.c_str());
  }
  SSL_set_fd(ssl_, fd_);
  set_timeout(timeout);
  timed_out_ = false;
  errno = 0;
  if (SSL_connect(ssl_) != 1) {
    long verify = SSL_get_verify_result(ssl_);
    int saved_errno = errno;  // SO_RCVTIMEO/SO_SNDTIMEO expiry shows as EAGAIN
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) {
      timed_out_ = true;
      error_ = "timed out after " + std::to_string(timeout.count()) +
               " s waiting for the TLS handshake with " + name;
    } else if (verify != X509_V_OK) {
      std::string names = name;
      for (const auto& other : params.also_accept) names += " or " + other;
      error_ = std::string("TLS: certificate verification failed for ") + names + ": " +
               X509_verify_cert_error_string(verify);
    } else {
      error_ = "TLS handshake with " + name + " failed: " + openssl_error("connection closed");
    }
    ERR_clear_error();
    return false;
  }
  if (!params.pin_sha256.empty()) {
    X509* cert = SSL_get0_peer_certificate(ssl_);
    unsigned char* der = nullptr;
    int len = cert ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der) : -1;
    if (len <= 0) return error_ = "TLS: no server public key to check the pin", false;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_Digest(der, static_cast<std::size_t>(len), md, &md_len, EVP_sha256(), nullptr);
    OPENSSL_free(der);
    std::string got =
        sasl::base64_encode(std::string_view(reinterpret_cast<const char*>(md), md_len));
    if (got != params.pin_sha256) {
      error_ = "TLS: server public key pin mismatch for " + name + " (got sha256 " + got + ")";
      return false;
    }
  }
  return true;
}

std::string TlsClient::tls_exporter() const {
  if (ssl_ == nullptr || SSL_version(ssl_) != TLS1_3_VERSION) return {};
  // RFC 9266 §2: 32 bytes, label "EXPORTER-Channel-Binding", no context.
  static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
  unsigned char out[32];
  if (SSL_export_keying_material(ssl_, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0, 0) !=
      1)
    return {};
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

std::string TlsClient::tls_description() const {
  if (ssl_ == nullptr) return "plaintext";
  return std::string(SSL_get_version(ssl_)) + " " + SSL_get_cipher_name(ssl_);
}

IoStatus TlsClient::write_all(std::string_view data, std::chrono::seconds timeout) {
  set_timeout(timeout);
  while (!data.empty()) {
    std::size_t n = 0;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      if (SSL_write_ex(ssl_, data.data(), data.size(), &n) != 1) {
        ERR_clear_error();
        return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kTimeout : IoStatus::kError;
      }
    } else {
      ssize_t r = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kTimeout : IoStatus::kError;
      }
      n = static_cast<std::size_t>(r);
    }
    data.remove_prefix(n);
  }
  return IoStatus::kOk;
}

IoStatus TlsClient::read_some(std::string& into, std::chrono::seconds timeout) {
  set_timeout(timeout);
  char buf[16384];
  for (;;) {
    std::size_t n = 0;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      errno = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) {
        into.append(buf, n);
        return IoStatus::kOk;
      }
      int err = SSL_get_error(ssl_, 0);
      ERR_clear_error();
      if (err == SSL_ERROR_ZERO_RETURN) return IoStatus::kEof;
      if (err == SSL_ERROR_SYSCALL && errno == 0) return IoStatus::kEof;
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kTimeout : IoStatus::kError;
    }
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r > 0) {
      into.append(buf, static_cast<std::size_t>(r));
      return IoStatus::kOk;
    }
    if (r == 0) return IoStatus::kEof;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK ? IoStatus::kTimeout : IoStatus::kError;
  }
}

}  // namespace sealpost::send
