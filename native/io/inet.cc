#include "inet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

ssize_t send_fds(int sock, const void* data, size_t len, const std::vector<int>& fds) {
  if (fds.size() > kMaxFds) return -EINVAL;
  iovec iov{const_cast<void*>(data), len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!fds.empty()) {
    memset(ctl, 0, sizeof ctl);
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t n = ::sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n < 0 ? -errno : n;
}

ssize_t recv_fds(int sock, void* buf, size_t len, std::vector<int>* fds) {
  iovec iov{buf, len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * kMaxFds)];
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  const ssize_t n = ::recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) return -errno;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds->push_back(fd);
    }
  }
  return (m.msg_flags & MSG_CTRUNC) ? -EMSGSIZE : n;
}

}  // namespace nsnet::io
