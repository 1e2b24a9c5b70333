// Network namespaces. This is the only code that calls setns() or unshare(),
// and every function here must run on one of the addon's threads that enter
// namespaces, the namespace thread or the recycle thread (see
// addon/runner.h): each changes namespace and comes back before it takes
// its next job, so no other thread ever runs in a foreign namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
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
// on a thread that enters namespaces.
bool init_home(io::SysError* err);

// Creates a namespace, bind-mounts it at rundir/name so `ip netns` sees it,
// and opens it. Undoes everything on failure. Its lo is still down (see
// ops::create_and_run).
bool create(const std::string& rundir, const std::string& name, Opened* out, io::SysError* err);
// Creates a namespace held only by the returned fd (no mount, no name).
bool create_anonymous(Opened* out, io::SysError* err);
// Opens the namespace at a path (a bind mount, or /proc/<pid>/ns/net).
bool open(const std::string& path, Opened* out, io::SysError* err);
// Moves the mount of rundir/from to rundir/to (which must not exist): the
// namespace keeps running, under its new name. Needs no setns, so any
// addon thread may do it.
bool move(const std::string& rundir, const std::string& from, const std::string& to, io::SysError* err);
// Unmounts and unlinks rundir/name. Kernel cleanup of the namespace happens
// later, once nothing holds it.
bool release(const std::string& rundir, const std::string& name, io::SysError* err);

// Opens a netlink socket of `protocol` (NETLINK_NETFILTER ...) inside the
// namespace, for a family whose socket is only needed on first use.
io::Socket* netlink_in(int nsfd, int protocol, io::SysError* err);
// Creates a socket(domain, type, protocol) inside the namespace.
int socket_in(int nsfd, int domain, int type, int protocol, io::SysError* err);
// Runs f() inside the namespace and comes home: for work whose files
// (/proc/sys/net, /proc/net) resolve against the caller's namespace.
bool run_in(int nsfd, io::SysError* err, const std::function<bool()>& f);
// Reads a whole file, here (in whatever namespace the thread is: see run_in).
bool read_here(const std::string& path, std::string* content, io::SysError* err);
// Reads a file as the namespace sees it: /proc/sys/net/* and
// /proc/thread-self/net/* resolve against the opener's namespace (not
// /proc/net, which is /proc/self/net: the main thread's).
bool read_in(int nsfd, const std::string& path, std::string* content, io::SysError* err);
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

// Every readable file under /proc/sys/net as the namespace sees it, as
// (path below /proc/sys/net, value) pairs: what a fresh namespace holds
// (but its TCP Fast Open key, drawn at random for each).
bool sysctl_dump(int nsfd, std::vector<std::pair<std::string, std::string>>* out, io::SysError* err);
// Files of one namespace's /proc/sys/net kept open between sweeps: a file
// opened inside a namespace keeps reading that namespace's value from any
// thread, and a read of an open file costs a fifth of an open, read and
// close. At most a quarter of the process's file limit goes to these, so
// the embedding program never runs short of descriptors because of them.
class SysctlCache {
 public:
  SysctlCache() = default;
  ~SysctlCache() { clear(); }
  SysctlCache(const SysctlCache&) = delete;
  SysctlCache& operator=(const SysctlCache&) = delete;
  void clear();

 private:
  friend bool sysctl_restore(int, const std::vector<std::pair<std::string, std::string>>&, SysctlCache*, std::vector<std::string>*,
                             std::vector<std::pair<std::string, std::string>>*, io::SysError*);
  std::vector<int> fds_;  // one per path of the list it was filled for; -1 where not open
  size_t for_size_ = 0;
  std::string for_first_, for_last_;
};

// Brings the namespace's values back to `want` (from sysctl_dump of a fresh
// one): reads each, writes the ones that differ, reads those again (one
// key may change another: ip_forward and conf/all/forwarding). *changed
// gets the paths written; *left the ones still different after, each with
// its value now (or the errno of a read that failed). With a cache, reads
// and writes go through the files it keeps open (opened on first use).
bool sysctl_restore(int nsfd, const std::vector<std::pair<std::string, std::string>>& want, SysctlCache* cache,
                    std::vector<std::string>* changed, std::vector<std::pair<std::string, std::string>>* left, io::SysError* err);

}  // namespace nsnet::ns
