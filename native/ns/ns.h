// Network namespaces. This is the only code that calls setns() or unshare(),
// and every function here must run on the addon's namespace thread (see
// addon/runner.h): a thread that changes namespace and comes back before it
// takes the next job, so no other thread ever runs in a foreign namespace.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../io/socket.h"

namespace nsnet::ns {

// An open namespace: an fd that keeps it alive, its identity, and a
// NETLINK_ROUTE socket created inside it.
struct Opened {
  int fd = -1;
  uint64_t dev = 0;
  uint64_t ino = 0;
  io::Socket* rtnl = nullptr;
};

// Records the calling thread's namespace as "home". Call once, first thing
// on the namespace thread.
bool init_home(io::SysError* err);

// Creates a namespace, bind-mounts it at rundir/name so `ip netns` sees it,
// and opens it. Undoes everything on failure. Its lo is still down (see
// ops::create_and_run).
bool create(const std::string& rundir, const std::string& name, Opened* out, io::SysError* err);
// Creates a namespace held only by the returned fd (no mount, no name).
bool create_anonymous(Opened* out, io::SysError* err);
// Opens the namespace at a path (a bind mount, or /proc/<pid>/ns/net).
bool open(const std::string& path, Opened* out, io::SysError* err);
// Unmounts and unlinks rundir/name. Kernel cleanup of the namespace happens
// later, once nothing holds it.
bool release(const std::string& rundir, const std::string& name, io::SysError* err);

// Opens a netlink socket of `protocol` (NETLINK_NETFILTER ...) inside the
// namespace, for a family whose socket is only needed on first use.
io::Socket* netlink_in(int nsfd, int protocol, io::SysError* err);
// Creates a socket(domain, type, protocol) inside the namespace.
int socket_in(int nsfd, int domain, int type, int protocol, io::SysError* err);
// A server socket to open inside a namespace: bound to address:port, and
// listening when it is a stream socket.
struct Listener {
  int domain = 0;  // AF_INET | AF_INET6
  int type = 0;    // SOCK_DGRAM | SOCK_STREAM
  std::string address;
  int port = 0;
  // SO_REUSEADDR (see io::bind_inet); without it a UDP address and port
  // another socket holds is refused (EADDRINUSE) rather than shared.
  bool reuse = true;
};
// Opens each listener inside the namespace, all in one visit. Its address
// must be local there (a socket bound to one that is not yet would send
// from whatever address routing picks). All or nothing: on a failure those
// opened are closed and fds is left empty.
bool listen_in(int nsfd, const std::vector<Listener>& specs, std::vector<int>* fds, io::SysError* err);
// Reads or writes /proc/sys/<key> as seen from the namespace.
bool sysctl_read(int nsfd, const std::string& key, std::string* value, io::SysError* err);
bool sysctl_write(int nsfd, const std::string& key, const std::string& value, io::SysError* err);

}  // namespace nsnet::ns
