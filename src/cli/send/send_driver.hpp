// `sealpost send`: reads the message, prepares it, connects and pumps smtp::ClientSession over
// a TlsClient, AUTH through the src/sasl client mechanisms, and maps the outcome to a sysexits
// status with a one-line error that names the server reply.
#pragma once

#include <iosfwd>

#include "cli/send/send_options.hpp"

namespace CLI {
class App;
}

namespace sealpost::send {

// `options` must have been through finish_send_options.
int run_send(const SendOptions& options, std::istream& in, std::ostream& err);

// The program when invoked as "sendmail" (argv[0]): the same options, no subcommand.
int sendmail_main(int argc, char** argv);

}  // namespace sealpost::send
