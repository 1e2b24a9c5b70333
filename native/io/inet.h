// Plain sockets shared with Node by fd: IP sockets the namespace thread
// creates inside a namespace (ns::socket_in), bound here before Node takes
// over; and the credentials of whoever is at the far end of a unix socket
// Node accepted.
#pragma once

#include <string>

#include "socket.h"

namespace nsnet::io {

// Binds fd to address:port (an empty address is the wildcard) with
// SO_REUSEADDR, as Node's own listen() does.
bool bind_inet(int fd, int domain, const std::string& address, int port, SysError* err);

struct PeerCred {
  int pid = 0;
  unsigned uid = 0;
  unsigned gid = 0;
};

// SO_PEERCRED of a connected unix socket: the kernel's record of the
// process that connected, which it cannot forge.
bool peer_cred(int fd, PeerCred* out, SysError* err);

}  // namespace nsnet::io
