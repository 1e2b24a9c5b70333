#include "ns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>

#include "../io/inet.h"

namespace nsnet::ns {

using io::fail;

namespace {

// Per namespace thread (one per Node environment): its own namespace, closed
// when the thread ends, and the run dirs it has made shared mounts.
struct Home {
  int fd = -1;
  ~Home() {
    if (fd >= 0) ::close(fd);
  }
};
thread_local Home g_home;
thread_local std::set<std::string> g_shared;

// Returning home cannot fail short of a kernel bug; a namespace thread left
// in a foreign namespace would silently act on the wrong network, so stop.
void go_home() {
  if (setns(g_home.fd, CLONE_NEWNET) != 0) {
    std::perror("nsnet: setns(home)");
    std::abort();
  }
}

// Stays in the target namespace for the guard's scope.
class Enter {
 public:
  Enter(int nsfd, io::SysError* err) : ok_(g_home.fd >= 0 && setns(nsfd, CLONE_NEWNET) == 0) {
    if (!ok_) fail(err, g_home.fd < 0 ? EBADF : errno, g_home.fd < 0 ? "namespace thread has no home" : "setns");
  }
  ~Enter() {
    if (ok_) go_home();
  }
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

bool mkdir_p(const std::string& dir, io::SysError* err) {
  for (size_t i = 1; i <= dir.size(); i++) {
    if (i < dir.size() && dir[i] != '/') continue;
    const std::string part = dir.substr(0, i);
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return fail(err, errno, "mkdir " + part);
  }
  return true;
}

// As iproute2 does: the run dir is a shared mount, so namespace mounts made
// here propagate into mount namespaces cloned from ours (and back).
bool ensure_rundir(const std::string& rundir, io::SysError* err) {
  if (g_shared.count(rundir)) return true;
  if (!mkdir_p(rundir, err)) return false;
  bool bound = false;
  while (::mount("", rundir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) return fail(err, errno, "mount --make-rshared " + rundir);
    if (::mount(rundir.c_str(), rundir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
      return fail(err, errno, "mount --bind " + rundir);
    bound = true;
  }
  g_shared.insert(rundir);
  return true;
}

// Opens the calling thread's current namespace and a netlink socket in it.
bool open_here(Opened* out, io::SysError* err) {
  int fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errno, "open /proc/thread-self/ns/net");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return fail(err, e, "fstat netns");
  }
  io::Socket* s = io::Socket::open(NETLINK_ROUTE, err);
  if (!s) {
    ::close(fd);
    return false;
  }
  out->fd = fd;
  out->dev = st.st_dev;
  out->ino = st.st_ino;
  out->rtnl = s;
  return true;
}

// unshare() moves this thread into a new namespace; open it and come home.
bool new_netns_here(Opened* out, const std::string& mount_at, io::SysError* err) {
  if (g_home.fd < 0) return fail(err, EBADF, "namespace thread has no home");
  if (::unshare(CLONE_NEWNET) != 0) return fail(err, errno, "unshare(CLONE_NEWNET)");
  bool ok = true;
  if (!mount_at.empty() && ::mount("/proc/thread-self/ns/net", mount_at.c_str(), "none", MS_BIND, nullptr) != 0)
    ok = fail(err, errno, "mount --bind netns " + mount_at);
  if (ok) ok = open_here(out, err);
  go_home();
  return ok;
}

}  // namespace

bool init_home(io::SysError* err) {
  g_home.fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  return g_home.fd >= 0 || fail(err, errno, "open /proc/thread-self/ns/net");
}

bool create(const std::string& rundir, const std::string& name, Opened* out, io::SysError* err) {
  if (!ensure_rundir(rundir, err)) return false;
  const std::string path = rundir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail(err, errno, "create " + path);
  ::close(fd);
  if (!new_netns_here(out, path, err)) {
    ::umount2(path.c_str(), MNT_DETACH);
    ::unlink(path.c_str());
    return false;
  }
  return true;
}

bool create_anonymous(Opened* out, io::SysError* err) { return new_netns_here(out, "", err); }

bool open(const std::string& path, Opened* out, io::SysError* err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errno, "open " + path);
  bool ok;
  {
    Enter in(fd, err);
    ok = in.ok() && open_here(out, err);
  }
  ::close(fd);  // open_here opened its own fd from inside
  return ok;
}

bool move(const std::string& rundir, const std::string& from, const std::string& to, io::SysError* err) {
  const std::string src = rundir + "/" + from, dst = rundir + "/" + to;
  int fd = ::open(dst.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) return fail(err, errno, "create " + dst);
  ::close(fd);
  if (::mount(src.c_str(), dst.c_str(), "none", MS_BIND, nullptr) != 0) {
    const int e = errno;
    ::unlink(dst.c_str());
    return fail(err, e, "mount --bind " + src + " " + dst);
  }
  // The old name goes; the namespace stays held by the new mount.
  if (::umount2(src.c_str(), MNT_DETACH) == 0) ::unlink(src.c_str());
  return true;
}

bool release(const std::string& rundir, const std::string& name, io::SysError* err) {
  const std::string path = rundir + "/" + name;
  // MNT_DETACH: a process still inside keeps the namespace; we only drop the name.
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return fail(err, errno, "umount " + path);
  if (::unlink(path.c_str()) != 0) return fail(err, errno, "unlink " + path);
  return true;
}

io::Socket* netlink_in(int nsfd, int protocol, io::SysError* err) {
  Enter in(nsfd, err);
  if (!in.ok()) return nullptr;
  return io::Socket::open(protocol, err);
}

int socket_in(int nsfd, int domain, int type, int protocol, io::SysError* err) {
  Enter in(nsfd, err);
  if (!in.ok()) return -1;
  const int fd = ::socket(domain, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
  if (fd < 0) fail(err, errno, "socket");
  return fd;
}

bool listen_in(int nsfd, const std::vector<Listener>& specs, std::vector<int>* fds, io::SysError* err) {
  fds->clear();
  Enter in(nsfd, err);
  if (!in.ok()) return false;
  for (const Listener& l : specs) {
    const int fd = ::socket(l.domain, l.type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    bool ok = fd >= 0 || fail(err, errno, "socket");
    if (ok) fds->push_back(fd);
    ok = ok && io::bind_inet(fd, l.domain, l.address, l.port, err, l.reuse);
    if (ok && l.type == SOCK_STREAM && ::listen(fd, SOMAXCONN) != 0) ok = fail(err, errno, "listen");
    if (!ok) {
      for (int f : *fds) ::close(f);
      fds->clear();
      return false;
    }
  }
  return true;
}

namespace {

std::string sysctl_path(const std::string& key) {
  std::string p = "/proc/sys/" + key;
  if (key.find('/') == std::string::npos)
    for (size_t i = 10; i < p.size(); i++)
      if (p[i] == '.') p[i] = '/';
  return p;
}

}  // namespace

// Reads the whole file at path, here (in whichever namespace we are).
bool read_here(const std::string& path, std::string* content, io::SysError* err) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errno, "open " + path);
  content->clear();
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return n == 0 || fail(err, e, "read " + path);
    }
    content->append(buf, static_cast<size_t>(n));
  }
}

bool run_in(int nsfd, io::SysError* err, const std::function<bool()>& f) {
  Enter in(nsfd, err);
  return in.ok() && f();
}

bool read_in(int nsfd, const std::string& path, std::string* content, io::SysError* err) {
  Enter in(nsfd, err);
  return in.ok() && read_here(path, content, err);
}

bool sysctl_read(int nsfd, const std::string& key, std::string* value, io::SysError* err) {
  if (!read_in(nsfd, sysctl_path(key), value, err)) return false;
  while (!value->empty() && (value->back() == '\n')) value->pop_back();
  return true;
}

bool sysctl_write(int nsfd, const std::string& key, const std::string& value, io::SysError* err) {
  Enter in(nsfd, err);
  if (!in.ok()) return false;
  const std::string path = sysctl_path(key);
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(err, errno, "open " + path);
  const ssize_t n = ::write(fd, value.data(), value.size());
  const int e = errno;
  ::close(fd);
  if (n < 0) return fail(err, e, "write " + path);
  return true;
}

}  // namespace nsnet::ns
