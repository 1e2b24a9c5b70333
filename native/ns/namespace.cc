#include "namespace.h"

#include <unistd.h>

namespace nsnet::ns {

void Namespace::fill(const Opened& o) {
  fd = o.fd;
  dev = o.dev;
  ino = o.ino;
  rtnl.reset(o.rtnl);
  ready.store(true, std::memory_order_release);
}

void Namespace::close() {
  rtnl.reset();
  {
    std::lock_guard<std::mutex> lk(nfnl_mu);
    nfnl.reset();
    nfnl_open.store(false, std::memory_order_release);
  }
  if (fd >= 0) ::close(fd);
  fd = -1;
}

io::Socket* Namespace::nfnl_socket(io::SysError* err) {
  std::lock_guard<std::mutex> lk(nfnl_mu);
  if (!nfnl) {
    nfnl.reset(netlink_in(fd, NETLINK_NETFILTER, err));
    if (!nfnl) return nullptr;
    nfnl_open.store(true, std::memory_order_release);
  }
  return nfnl.get();
}

}  // namespace nsnet::ns
