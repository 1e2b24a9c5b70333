// Plain sockets shared with Node by fd: IP sockets the namespace thread
// creates inside a namespace (ns::socket_in), bound here before Node takes
// over; the credentials of whoever is at the far end of a unix socket
// Node accepted; and fds handed between processes over a unix socket.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

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

// The most fds one message carries.
constexpr size_t kMaxFds = 8;

// Sends len bytes of data on a unix stream socket with fds attached
// (SCM_RIGHTS: the receiver gets its own copies), never waiting: a full
// socket is -EAGAIN. Returns the bytes sent or -errno.
ssize_t send_fds(int sock, const void* data, size_t len, const std::vector<int>& fds);

// Receives up to len bytes and the fds that came with them (close-on-exec),
// never waiting. Returns the bytes (0: the peer closed), or -errno;
// -EMSGSIZE when the sender attached more than kMaxFds (the kernel closed
// those it could not deliver).
ssize_t recv_fds(int sock, void* buf, size_t len, std::vector<int>* fds);

}  // namespace nsnet::io
