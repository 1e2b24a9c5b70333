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
  nfnl.reset();
  diag.reset();
  if (fd >= 0) ::close(fd);
  fd = -1;
}

io::Socket* Lazy::get(int nsfd, io::SysError* err) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!s_) {
    s_.reset(netlink_in(nsfd, protocol_, err));
    if (!s_) return nullptr;
    open_.store(true, std::memory_order_release);
  }
  return s_.get();
}

void Lazy::reset() {
  std::lock_guard<std::mutex> lk(mu_);
  s_.reset();
  open_.store(false, std::memory_order_release);
}

}  // namespace nsnet::ns
