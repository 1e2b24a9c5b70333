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
  xfrm.reset();
  genl.reset();
  sysctls.clear();
  if (fd >= 0) ::close(fd);
  fd = -1;
}

io::Socket* LazySocket::get(int nsfd, io::SysError* err) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!s_) {
    s_.reset(netlink_in(nsfd, protocol_, err));
    if (!s_) return nullptr;
    open_.store(true, std::memory_order_release);
  }
  return s_.get();
}

uint32_t LazySocket::portid() {
  std::lock_guard<std::mutex> lk(mu_);
  return s_ ? s_->portid() : 0;
}

bool Namespace::is_ours(int protocol, uint32_t portid) {
  if (protocol == NETLINK_ROUTE) return rtnl && rtnl->portid() == portid;
  for (LazySocket* s : {&nfnl, &diag, &xfrm, &genl})
    if (s->protocol() == protocol && s->portid() == portid) return true;
  return false;
}

void LazySocket::reset() {
  std::lock_guard<std::mutex> lk(mu_);
  s_.reset();
  open_.store(false, std::memory_order_release);
}

}  // namespace nsnet::ns
