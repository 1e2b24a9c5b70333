// An open namespace as jobs share it: the fd that keeps it alive, its
// identity, and the netlink sockets created inside it (rtnetlink from the
// start; nf_tables, sock_diag, xfrm and generic netlink on first use, one
// Lazy each).
#pragma once

#include <linux/netlink.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>

#include "../io/socket.h"
#include "ns.h"

namespace nsnet::ns {

// A netlink socket of one protocol, opened inside a namespace on first use.
// Opening enters the namespace: until is_open(), only a thread that enters
// namespaces (the namespace or the recycle thread) may call get().
class LazySocket {
 public:
  explicit LazySocket(int protocol) : protocol_(protocol) {}
  io::Socket* get(int nsfd, io::SysError* err);
  bool is_open() const { return open_.load(std::memory_order_acquire); }
  void reset();
  // Its netlink port id, 0 while it is not open.
  uint32_t portid();
  int protocol() const { return protocol_; }

  // Runs f(socket) holding the socket's lock; false, with err, if it cannot be opened.
  template <class F>
  bool with(int nsfd, io::SysError* err, F&& f) {
    io::Socket* s = get(nsfd, err);
    if (!s) return false;
    std::lock_guard<std::mutex> lk(s->mu());
    return f(*s);
  }

 private:
  const int protocol_;
  std::mutex mu_;
  std::unique_ptr<io::Socket> s_;
  std::atomic<bool> open_{false};
};

// Pending until the namespace thread fills it in (a create whose follow-up
// batch refers to the namespace being created); `ready` publishes the fields.
struct Namespace {
  Namespace() = default;
  explicit Namespace(const Opened& o) { fill(o); }
  ~Namespace() { close(); }
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  // Takes over what o holds.
  void fill(const Opened& o);
  bool is_ready() const { return ready.load(std::memory_order_acquire); }
  // Closes the sockets and the fd: the kernel destroys the namespace (and
  // the devices in it) once nothing else holds it.
  void close();

  // The NETLINK_NETFILTER socket, opened inside the namespace on first use
  // (see LazySocket for the thread that may open it).
  io::Socket* nfnl_socket(io::SysError* err) { return nfnl.get(fd, err); }
  bool nfnl_is_open() const { return nfnl.is_open(); }

  // Runs f(socket) holding the socket's lock (one batch or dump in flight
  // per socket); false, with err, if the nf_tables socket cannot be opened.
  template <class F>
  bool with_rtnl(F&& f) {
    std::lock_guard<std::mutex> lk(rtnl->mu());
    return f(*rtnl);
  }
  template <class F>
  bool with_nfnl(io::SysError* err, F&& f) {
    return nfnl.with(fd, err, std::forward<F>(f));
  }

  int fd = -1;
  uint64_t dev = 0, ino = 0;
  std::unique_ptr<io::Socket> rtnl;
  std::atomic<bool> ready{false};
  // NETLINK_SOCK_DIAG: lists the namespace's sockets.
  LazySocket diag{NETLINK_SOCK_DIAG};
  // NETLINK_XFRM and NETLINK_GENERIC: a reset's look at the namespace's
  // IPsec states and policies, and at MPTCP's endpoints and limits.
  LazySocket xfrm{NETLINK_XFRM};
  LazySocket genl{NETLINK_GENERIC};
  // Its /proc/sys/net files, kept open by sweeps: a pool's fresh dump (the
  // namespace thread) and then its resets (the recycle thread), never both
  // at once.
  SysctlCache sysctls;
  // Whether a netlink socket is one of these (a namespace's sockets, as
  // sock_diag lists them, include nsnet's own).
  bool is_ours(int protocol, uint32_t portid);

 private:
  LazySocket nfnl{NETLINK_NETFILTER};
};

}  // namespace nsnet::ns
