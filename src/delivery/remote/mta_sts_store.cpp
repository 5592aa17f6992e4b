// File format, one per domain (the domain is the file name; only LDH names are kept, so a name
// can never step out of the directory):
//   sealpost-mta-sts 1 <id> <expiry, seconds since the epoch>\n
//   <the policy as tls::format_mta_sts_policy writes it>
#include "delivery/remote/mta_sts_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

namespace sealpost::delivery::remote {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "sealpost-mta-sts 1";

bool safe_file_name(std::string_view d) {
  return !d.empty() && d.size() <= 253 && d.front() != '.' &&
         std::all_of(d.begin(), d.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
         });
}

}  // namespace

MtaStsStore::MtaStsStore(std::string directory) : directory_(std::move(directory)) {}

std::optional<std::string> MtaStsStore::path_of(std::string_view domain) const {
  if (directory_.empty() || !safe_file_name(domain)) return std::nullopt;
  return (fs::path(directory_) / std::string(domain)).string();
}

std::optional<tls::MtaStsEntry> MtaStsStore::load(std::string_view domain,
                                                  std::chrono::system_clock::time_point now) const {
  auto path = path_of(domain);
  if (!path) return std::nullopt;
  std::ifstream in(*path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string header;
  std::getline(in, header);
  std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(header.starts_with(kMagic) ? header.substr(kMagic.size()) : "");
  std::string id;
  long long expires = 0;
  fields >> id >> expires;
  auto policy = fields ? tls::parse_mta_sts_policy(body) : std::nullopt;
  // Checked in seconds before it becomes a time_point (nanoseconds overflow past ~2262); no
  // policy can be good for longer than the largest max_age from now.
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  bool current = expires > now_s && expires <= now_s + tls::kMtaStsMaxAge;
  if (!policy || id.empty() || !current) {
    std::error_code ec;
    fs::remove(*path, ec);  // expired or garbled: forget it
    return std::nullopt;
  }
  auto when = std::chrono::system_clock::time_point(std::chrono::seconds(expires));
  return tls::MtaStsEntry{id, std::move(*policy), when};
}

void MtaStsStore::save(std::string_view domain, const tls::MtaStsEntry& entry) const {
  auto path = path_of(domain);
  if (!path) return;
  std::error_code ec;
  fs::create_directories(directory_, ec);
  // One temporary file per save: two threads saving the same domain must not write into one.
  static std::atomic<unsigned> serial{0};
  std::string tmp =
      *path + "." + std::to_string(::getpid()) + "." + std::to_string(++serial) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(entry.expires.time_since_epoch());
    out << kMagic << ' ' << entry.id << ' ' << secs.count() << '\n'
        << tls::format_mta_sts_policy(entry.policy);
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, *path, ec);
}

}  // namespace sealpost::delivery::remote
