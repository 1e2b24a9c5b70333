#include "inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace nsnet::io {

bool bind_inet(int fd, int domain, const std::string& address, int port, SysError* err, bool reuse) {
  const int one = 1;
  if (reuse) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // The two families differ only in where the fields are: pick them, then fill.
  sockaddr_storage ss{};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  const bool is6 = domain == AF_INET6;
  const socklen_t len = is6 ? sizeof *v6 : sizeof *v4;
  void* addr = is6 ? static_cast<void*>(&v6->sin6_addr) : static_cast<void*>(&v4->sin_addr);
  in_port_t* port_field = is6 ? &v6->sin6_port : &v4->sin_port;
  ss.ss_family = static_cast<sa_family_t>(is6 ? AF_INET6 : AF_INET);
  *port_field = htons(static_cast<uint16_t>(port));
  if (!address.empty() && inet_pton(ss.ss_family, address.c_str(), addr) != 1) return fail(err, EINVAL, "bind: bad address");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) return fail(err, errno, "bind");
  return true;
}

bool peer_cred(int fd, PeerCred* out, SysError* err) {
  ucred c{};
  socklen_t len = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return fail(err, errno, "getsockopt SO_PEERCRED");
  out->pid = c.pid;
  out->uid = c.uid;
  out->gid = c.gid;
  return true;
}

}  // namespace nsnet::io
