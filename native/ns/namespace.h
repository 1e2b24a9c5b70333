// An open namespace as jobs share it: the fd that keeps it alive, its
// identity, and the netlink sockets created inside it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "../io/socket.h"
#include "ns.h"

namespace nsnet::ns {

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

  // The NETLINK_NETFILTER socket, opened inside the namespace on first use.
  // Opening enters the namespace: until nfnl_is_open(), only the namespace
  // thread may call this.
  io::Socket* nfnl_socket(io::SysError* err);
  bool nfnl_is_open() const { return nfnl_open.load(std::memory_order_acquire); }

  // Runs f(socket) holding the socket's lock (one batch or dump in flight
  // per socket); false, with err, if the nf_tables socket cannot be opened.
  template <class F>
  bool with_rtnl(F&& f) {
    std::lock_guard<std::mutex> lk(rtnl->mu());
    return f(*rtnl);
  }
  template <class F>
  bool with_nfnl(io::SysError* err, F&& f) {
    io::Socket* s = nfnl_socket(err);
    if (!s) return false;
    std::lock_guard<std::mutex> lk(s->mu());
    return f(*s);
  }

  int fd = -1;
  uint64_t dev = 0, ino = 0;
  std::unique_ptr<io::Socket> rtnl;
  std::atomic<bool> ready{false};

 private:
  std::mutex nfnl_mu;
  std::unique_ptr<io::Socket> nfnl;
  std::atomic<bool> nfnl_open{false};
};

}  // namespace nsnet::ns
