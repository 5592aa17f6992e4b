// SocketAddress: the path as it is when it fits, else through an O_PATH descriptor of its
// directory (Linux resolves /proc/self/fd/N like the directory itself).
#include "control/socket_address.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace sealpost::control {

SocketAddress::SocketAddress(const std::filesystem::path& path) {
  address_.sun_family = AF_UNIX;
  std::string text = path.string();
  if (text.size() >= sizeof address_.sun_path) {
    const auto dir = path.parent_path();
    dir_fd_ = ::open(dir.empty() ? "." : dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) {
      throw std::system_error(errno, std::generic_category(), "open " + dir.string());
    }
    text = "/proc/self/fd/" + std::to_string(dir_fd_) + "/" + path.filename().string();
    if (text.size() >= sizeof address_.sun_path) {
      throw std::system_error(ENAMETOOLONG, std::generic_category(), path.string());
    }
  }
  std::memcpy(address_.sun_path, text.c_str(), text.size() + 1);
}

SocketAddress::~SocketAddress() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

}  // namespace sealpost::control
