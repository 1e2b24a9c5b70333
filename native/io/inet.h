// Plain IP sockets handed to Node by fd: the namespace thread creates them
// inside a namespace (ns::socket_in); this binds them before Node takes over.
#pragma once

#include <string>

#include "socket.h"

namespace nsnet::io {

// Binds fd to address:port (an empty address is the wildcard) with
// SO_REUSEADDR, as Node's own listen() does.
bool bind_inet(int fd, int domain, const std::string& address, int port, SysError* err);

}  // namespace nsnet::io
