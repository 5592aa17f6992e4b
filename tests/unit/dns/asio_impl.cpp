// Asio compiled once for this test program (ASIO_SEPARATE_COMPILATION), as src/net does for
// the daemon and the CLI.
#include <asio/impl/src.hpp>
