// fetch_policy(): one libcurl easy handle per fetch (fetches are rare: at most one per policy
// domain and max_age or TXT id change), every limit set explicitly rather than trusting
// libcurl's defaults, and nothing from the environment (no proxies, no .netrc).
#include "delivery/remote/mta_sts_fetch.hpp"

#include <curl/curl.h>

#include <memory>
#include <mutex>

namespace sealpost::delivery::remote {

namespace {

struct CurlFree {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

struct Body {
  std::string data;
  std::size_t limit;
  bool too_large = false;
};

std::size_t on_data(char* ptr, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<Body*>(user);
  std::size_t len = size * n;
  if (body->data.size() + len > body->limit) {  // returning short makes curl fail the transfer
    body->too_large = true;
    return 0;
  }
  body->data.append(ptr, len);
  return len;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

// "text/plain; charset=utf-8" -> true (RFC 8461 §3.3: the media type is text/plain).
bool is_text_plain(const char* content_type) {
  if (content_type == nullptr) return false;
  std::string_view t(content_type);
  t = t.substr(0, t.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  return lower(t) == "text/plain";
}

}  // namespace

void init_policy_fetch() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::expected<std::string, std::string> fetch_policy(std::string_view domain,
                                                     const std::vector<std::string>& addresses,
                                                     const PolicyFetchSettings& settings) {
  init_policy_fetch();
  if (addresses.empty()) return std::unexpected("no address for mta-sts." + std::string(domain));
  std::string host = "mta-sts." + std::string(domain);
  std::string port = std::to_string(settings.port);
  std::string url = "https://" + host + ":" + port + "/.well-known/mta-sts.txt";
  // CURLOPT_RESOLVE pins HOST:PORT to our addresses, so curl never resolves the name itself.
  std::string pinned = host + ":" + port + ":";
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    const std::string& a = addresses[i];
    pinned += (i ? "," : "") + (a.find(':') != std::string::npos ? "[" + a + "]" : a);
  }
  std::unique_ptr<curl_slist, SlistFree> resolve(curl_slist_append(nullptr, pinned.c_str()));
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl || !resolve) return std::unexpected("libcurl: out of memory");
  Body body{{}, settings.max_body};
  char error[CURL_ERROR_SIZE] = {};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // §3.3: redirects are not followed
  curl_easy_setopt(c, CURLOPT_PROXY, "");           // no proxy from the environment
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);  // §3.3: PKIX, and the name mta-sts.DOMAIN
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!settings.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM-based timeouts
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(settings.timeout.count()));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(settings.max_body));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sealpost");
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  CURLcode rc = curl_easy_perform(c);
  if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED)
    return std::unexpected("policy larger than " + std::to_string(settings.max_body) + " bytes");
  if (rc != CURLE_OK)
    return std::unexpected(url + ": " + (error[0] ? error : curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return std::unexpected(url + ": HTTP " + std::to_string(status));
  const char* type = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
  if (!is_text_plain(type))
    return std::unexpected(url + ": Content-Type " + (type ? std::string(type) : "missing") +
                           ", not text/plain");
  return std::move(body.data);
}

}  // namespace sealpost::delivery::remote
