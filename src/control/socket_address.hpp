// The sockaddr_un for a control socket path. A path longer than sun_path (107 bytes) is
// reached through its directory instead: /proc/self/fd/N/control.sock, with N held open here.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>

namespace sealpost::control {

class SocketAddress {
 public:
  // Throws std::system_error if a long path's directory cannot be opened.
  explicit SocketAddress(const std::filesystem::path& path);
  ~SocketAddress();
  SocketAddress(const SocketAddress&) = delete;
  SocketAddress& operator=(const SocketAddress&) = delete;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&address_); }
  socklen_t size() const { return sizeof address_; }
  const char* path() const { return address_.sun_path; }  // what bind/unlink should use

 private:
  sockaddr_un address_{};
  int dir_fd_ = -1;
};

}  // namespace sealpost::control
