// Creates the dev instance's self-signed ECDSA P-256 certificate and key (RFC 5280 profile,
// serverAuth only). Files are written to a temporary name and renamed, so a crash never
// leaves a half-written key. Not for production: no CA, no renewal.
#include "tls/self_signed.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace sealpost::tls {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

[[noreturn]] void fail(const std::string& what) {
  std::string detail;
  char buf[256];
  while (unsigned long code = ERR_get_error()) {
    ERR_error_string_n(code, buf, sizeof buf);
    detail += detail.empty() ? "" : "; ";
    detail += buf;
  }
  throw std::runtime_error("self-signed certificate: " + what + (detail.empty() ? "" : ": ") +
                           detail);
}

[[noreturn]] void fail_errno(const std::string& what, const std::filesystem::path& path) {
  throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

void add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
  if (ext == nullptr) fail("extension " + value);
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) fail("adding extension " + value);
}

X509Ptr make_certificate(EVP_PKEY* key, const std::string& hostname) {
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  X509* x = cert.get();

  // RFC 5280 §4.1.2.2: positive, at most 20 octets; 128 random bits make collisions moot.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) fail("RAND_bytes");
  serial[0] &= 0x7f;
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x)) == nullptr) fail("serial");

  X509_NAME* name = X509_get_subject_name(x);
  if (X509_set_version(x, X509_VERSION_3) != 1 ||
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(hostname.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(x, name) != 1 || X509_gmtime_adj(X509_getm_notBefore(x), 0) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(x), 365, 0, nullptr) == nullptr ||
      X509_set_pubkey(x, key) != 1) {
    fail("certificate fields");
  }

  std::string san = "DNS:" + hostname;
  if (hostname != "localhost") san += ",DNS:localhost";
  san += ",IP:127.0.0.1,IP:::1";
  add_extension(x, NID_subject_alt_name, san);
  add_extension(x, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(x, NID_key_usage, "critical,digitalSignature");
  add_extension(x, NID_ext_key_usage, "serverAuth");
  add_extension(x, NID_subject_key_identifier, "hash");

  if (X509_sign(x, key, EVP_sha256()) <= 0) fail("X509_sign");
  return cert;
}

// Writes via "<path>.tmp" + fsync + rename, creating the file with `mode` from the start so
// the key is never readable by others, not even briefly.
void write_file(const std::filesystem::path& path, BIO* pem, mode_t mode) {
  char* data = nullptr;
  long len = BIO_get_mem_data(pem, &data);
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail_errno("cannot create", tmp);
  for (long done = 0; done < len;) {
    ssize_t n = ::write(fd, data + done, static_cast<std::size_t>(len - done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      fail_errno("cannot write", tmp);
    }
    done += n;
  }
  if (::fchmod(fd, mode) != 0 || ::fsync(fd) != 0) {  // fchmod: the umask may have cut bits
    ::close(fd);
    fail_errno("cannot sync", tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail_errno("cannot rename to", path);
}

void make_parent(const std::filesystem::path& file) {
  std::filesystem::path dir = file.parent_path();
  if (dir.empty() || std::filesystem::exists(dir)) return;
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
}

}  // namespace

void ensure_self_signed(const std::filesystem::path& cert, const std::filesystem::path& key,
                        const std::string& hostname) {
  if (std::filesystem::exists(cert) && std::filesystem::exists(key)) return;

  PkeyPtr pkey(EVP_EC_gen("P-256"));
  if (!pkey) fail("EC P-256 key generation");
  X509Ptr x509 = make_certificate(pkey.get(), hostname);

  BioPtr key_pem(BIO_new(BIO_s_mem()));
  BioPtr cert_pem(BIO_new(BIO_s_mem()));
  if (!key_pem || !cert_pem ||
      PEM_write_bio_PrivateKey(key_pem.get(), pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1 ||
      PEM_write_bio_X509(cert_pem.get(), x509.get()) != 1) {
    fail("PEM encoding");
  }

  make_parent(key);
  make_parent(cert);
  // Key first: a crash between the two leaves the cert missing, and the next start
  // regenerates both.
  write_file(key, key_pem.get(), 0600);
  write_file(cert, cert_pem.get(), 0644);
}

}  // namespace sealpost::tls
