// Plain sockets shared with Node by fd: IP sockets the namespace thread
// creates inside a namespace (ns::socket_in), bound here before Node takes
// over; and the credentials of whoever is at the far end of a unix socket
// Node accepted.
#pragma once

#include <string>

#include "socket.h"

namespace nsnet::io {

// Binds fd to address:port (an empty address is the wildcard), with
// SO_REUSEADDR as Node's own listen() does unless reuse is false: a UDP
// socket with it shares its address and port with any other that has it
// too, and the one bound last takes the datagrams.
bool bind_inet(int fd, int domain, const std::string& address, int port, SysError* err, bool reuse = true);

struct PeerCred {
  int pid = 0;
  unsigned uid = 0;
  unsigned gid = 0;
};

// SO_PEERCRED of a connected unix socket: the kernel's record of the
// process that connected, which it cannot forge.
bool peer_cred(int fd, PeerCred* out, SysError* err);

}  // namespace nsnet::io
