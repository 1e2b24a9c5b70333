// Tests of the native layers below the addon against the real kernel:
// ops::create_and_run (a namespace's create, its lo up, its first groups,
// and the rollback that makes them all or nothing) and the monitor's resync
// when a datagram loses events.
//
// Needs root. It first moves itself into a private network and mount
// namespace, so nothing it does reaches the host (and every namespace it
// makes dies with it); without the privilege it exits 77, which ctest
// reports as skipped. Run: ctest --test-dir native/build (CMake target
// kernel_test), or inside the test sandbox as `npm test` does.

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../io/inet.h"
#include "../io/monitor.h"
#include "../ns/namespace.h"
#include "../ops/group.h"
#include "harness.h"

namespace io = nsnet::io;
namespace ns = nsnet::ns;
namespace ops = nsnet::ops;
namespace rtnl = nsnet::rtnl;

namespace nsnet::io {

// The Hub's side of a monitor, driven from the test's thread.
struct MonitorProbe {
  static void start(Monitor& m) { m.start(); }
  static void feed(Monitor& m, const std::vector<uint8_t>& datagram) { m.on_datagram(datagram.data(), datagram.size()); }
  static void read(Monitor& m, std::vector<uint8_t>* buf) { m.on_readable(buf->data(), buf->size()); }
};

}  // namespace nsnet::io

namespace {

std::string g_rundir;

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// The links of the namespace s was opened in, or only the one named.
std::vector<rtnl::LinkInfo> links(io::Socket& s, const std::string& name = "") {
  std::vector<rtnl::LinkInfo> out;
  io::Reply status;
  io::SysError err;
  if (!ops::list_links(s, 0, name, &out, &status, &err)) nsnet::test::fail(__FILE__, __LINE__, "list_links: " + err.what);
  return out;
}

bool has_link(io::Socket& s, const std::string& name) { return !links(s, name).empty(); }

bool lo_is_up(io::Socket& s) {
  for (const rtnl::LinkInfo& l : links(s))
    if (l.ifindex == 1) return (l.flags & IFF_UP) != 0;
  return false;
}

ops::Op link_add(const std::string& kind, const std::string& name) {
  ops::Op op;
  op.type = ops::OpType::LinkAdd;
  op.link.kind = kind;
  op.link.name = name;
  return op;
}

ops::Group group(std::shared_ptr<ns::Namespace> in, std::vector<ops::Op> list) {
  ops::Group g;
  g.ns = std::move(in);
  g.refs.resize(list.size());
  g.list = std::move(list);
  return g;
}

// The test's own namespace, as a group can name it.
std::shared_ptr<ns::Namespace> home() {
  static std::shared_ptr<ns::Namespace> h = [] {
    ns::Opened o;
    io::SysError err;
    if (!ns::open("/proc/thread-self/ns/net", &o, &err)) {
      std::printf("cannot open the test's namespace: %s\n", err.what.c_str());
      std::exit(1);
    }
    return std::make_shared<ns::Namespace>(o);
  }();
  return h;
}

struct Created {
  std::shared_ptr<ns::Namespace> ns = std::make_shared<ns::Namespace>();
  std::vector<io::Reply> replies;
  io::SysError err;
  bool ok = false;
};

Created create(const ops::Place& at, std::vector<ops::Group> (*make)(const std::shared_ptr<ns::Namespace>&)) {
  Created c;
  std::vector<ops::Group> groups = make(c.ns);
  c.ok = ops::create_and_run(c.ns, at, groups, &c.replies, &c.err);
  return c;
}

void release(const std::string& name, Created& c) {
  io::SysError ignored;
  ns::release(g_rundir, name, &ignored);
  c.ns->close();
}

}  // namespace

TEST(create_and_run_brings_lo_up_in_the_first_batch_and_drops_its_reply) {
  Created c = create({g_rundir, "kt-ok"}, [](const std::shared_ptr<ns::Namespace>& n) {
    std::vector<ops::Group> g;
    g.push_back(group(n, {link_add("bridge", "kt-d0")}));
    return g;
  });
  CHECK(c.ok);
  CHECK_EQ(c.err.err, 0);
  CHECK_EQ(c.replies.size(), size_t{1});
  CHECK(c.ns->is_ready() && c.ns->fd >= 0 && c.ns->rtnl);
  CHECK(exists(g_rundir + "/kt-ok"));
  if (!c.ns->rtnl) return;
  CHECK(lo_is_up(*c.ns->rtnl));
  CHECK(has_link(*c.ns->rtnl, "kt-d0"));
  CHECK(!has_link(*home()->rtnl, "kt-d0"));
  release("kt-ok", c);
}

TEST(create_and_run_brings_lo_up_when_no_group_goes_into_the_new_namespace) {
  Created c = create({g_rundir, std::nullopt}, [](const std::shared_ptr<ns::Namespace>&) {
    std::vector<ops::Group> g;
    g.push_back(group(home(), {link_add("bridge", "kt-h0")}));
    return g;
  });
  CHECK(c.ok);
  CHECK_EQ(c.replies.size(), size_t{1});
  CHECK(c.ns->rtnl && lo_is_up(*c.ns->rtnl));
  CHECK(has_link(*home()->rtnl, "kt-h0"));
  ops::Op del;
  del.type = ops::OpType::LinkDel;
  del.dev.name = "kt-h0";
  std::vector<ops::Op> list{del};
  std::vector<io::Reply> r;
  io::SysError err;
  CHECK(home()->with_rtnl([&](io::Socket& s) { return ops::exec(s, list, &r, &err); }));
  c.ns->close();

  Created bare = create({g_rundir, std::nullopt}, [](const std::shared_ptr<ns::Namespace>&) { return std::vector<ops::Group>{}; });
  CHECK(bare.ok);
  CHECK(bare.replies.empty());
  CHECK(bare.ns->rtnl && lo_is_up(*bare.ns->rtnl));
}

TEST(a_failed_group_releases_the_new_namespace_and_the_veth_peered_into_it) {
  Created c = create({g_rundir, "kt-fail"}, [](const std::shared_ptr<ns::Namespace>& n) {
    ops::Op veth = link_add("veth", "kt-v0");
    veth.link.peer_name = "kt-p0";
    ops::Group host = group(home(), {veth});
    host.refs[0].peer = n;
    ops::Op addr;
    addr.type = ops::OpType::AddrAdd;
    addr.dev.name = "kt-missing";
    addr.addr.local.family = AF_INET;
    addr.addr.prefixlen = 24;
    std::vector<ops::Group> g;
    g.push_back(std::move(host));
    g.push_back(group(n, {addr}));
    return g;
  });
  CHECK(!c.ok);
  CHECK_EQ(c.err.err, 0);  // a request failed, not the create
  CHECK_EQ(c.replies.size(), size_t{2});
  if (c.replies.size() == 2) {
    CHECK_EQ(c.replies[0].error, 0);
    CHECK_EQ(c.replies[1].error, -ENODEV);
  }
  CHECK(!exists(g_rundir + "/kt-fail"));
  CHECK_EQ(c.ns->fd, -1);
  CHECK(!c.ns->rtnl);
  // The kernel destroys a released namespace, and the veth with it, in the
  // background: wait for it rather than for a fixed time.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (has_link(*home()->rtnl, "kt-v0") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(!has_link(*home()->rtnl, "kt-v0"));
}

TEST(a_failure_before_the_namespace_group_cancels_it_and_lo_up_reports_nothing_of_its_own) {
  Created c = create({g_rundir, std::nullopt}, [](const std::shared_ptr<ns::Namespace>& n) {
    ops::Op del;
    del.type = ops::OpType::LinkDel;
    del.dev.name = "kt-absent";
    std::vector<ops::Group> g;
    g.push_back(group(home(), {del}));
    g.push_back(group(n, {link_add("bridge", "kt-d1")}));
    return g;
  });
  CHECK(!c.ok);
  CHECK_EQ(c.err.err, 0);
  CHECK_EQ(c.replies.size(), size_t{2});
  if (c.replies.size() == 2) {
    CHECK_EQ(c.replies[0].error, -ENODEV);
    CHECK_EQ(c.replies[1].error, -ECANCELED);
  }
  CHECK_EQ(c.ns->fd, -1);
}

TEST(a_sysctl_group_writes_as_the_new_namespace_sees_it_between_groups_and_a_missing_key_undoes_the_create) {
  Created c = create({g_rundir, "kt-sys"}, [](const std::shared_ptr<ns::Namespace>& n) {
    std::vector<ops::Group> g;
    g.push_back(group(n, {link_add("bridge", "kt-s0")}));
    ops::Group w;
    w.ns = n;
    w.is_sysctl = true;
    w.sysctl.emplace_back("net.ipv6.conf.kt-s0.disable_ipv6", "1");
    g.push_back(std::move(w));
    return g;
  });
  CHECK(c.ok);
  CHECK_EQ(c.replies.size(), size_t{2});
  std::string v;
  io::SysError err;
  CHECK(ns::sysctl_read(c.ns->fd, "net.ipv6.conf.kt-s0.disable_ipv6", &v, &err));
  CHECK(v == "1");
  // Not the test's own namespace's: there is no kt-s0 here.
  CHECK(!ns::sysctl_read(home()->fd, "net.ipv6.conf.kt-s0.disable_ipv6", &v, &err));
  release("kt-sys", c);

  Created bad = create({g_rundir, "kt-sysbad"}, [](const std::shared_ptr<ns::Namespace>& n) {
    std::vector<ops::Group> g;
    ops::Group w;
    w.ns = n;
    w.is_sysctl = true;
    w.sysctl.emplace_back("net.ipv4.conf.kt-nosuch.forwarding", "1");
    g.push_back(std::move(w));
    g.push_back(group(n, {link_add("bridge", "kt-s1")}));
    return g;
  });
  CHECK(!bad.ok);
  CHECK_EQ(bad.err.err, 0);  // a write failed, not the job
  CHECK_EQ(bad.replies.size(), size_t{2});
  if (bad.replies.size() == 2) {
    CHECK_EQ(bad.replies[0].error, -ENOENT);
    CHECK_EQ(bad.replies[1].error, -ECANCELED);
  }
  CHECK(!exists(g_rundir + "/kt-sysbad"));
}

TEST(create_and_run_refuses_a_namespace_that_already_holds_one_and_changes_nothing) {
  std::vector<ops::Group> none;
  std::vector<io::Reply> replies;
  io::SysError err;
  CHECK(!ops::create_and_run(home(), {g_rundir, "kt-busy"}, none, &replies, &err));
  CHECK_EQ(err.err, EBUSY);
  CHECK(!exists(g_rundir + "/kt-busy"));
  CHECK(home()->fd >= 0);
}

namespace {

ns::Listener listener(int type, const std::string& address, int port, bool reuse) {
  ns::Listener l;
  l.domain = AF_INET;
  l.type = type;
  l.address = address;
  l.port = port;
  l.reuse = reuse;
  return l;
}

// The inode of the network namespace a socket lives in (SIOCGSKNS), or 0.
uint64_t socket_netns(int fd) {
  const int nsfd = ::ioctl(fd, SIOCGSKNS);
  if (nsfd < 0) return 0;
  struct stat st;
  const uint64_t ino = ::fstat(nsfd, &st) == 0 ? st.st_ino : 0;
  ::close(nsfd);
  return ino;
}

std::string local_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return "?";
  char buf[INET_ADDRSTRLEN];
  return std::string(inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf)) + ":" + std::to_string(ntohs(a.sin_port));
}

}  // namespace

TEST(create_and_run_opens_listeners_inside_the_new_namespace_and_they_answer_from_their_own_address) {
  ops::Place at{g_rundir, "kt-listen"};
  auto n = std::make_shared<ns::Namespace>();
  std::vector<ops::Group> groups;
  groups.push_back(group(n, {link_add("bridge", "kt-l0")}));
  std::vector<io::Reply> replies;
  std::vector<int> fds;
  io::SysError err;
  const std::vector<ns::Listener> ls{listener(SOCK_DGRAM, "127.0.0.11", 53, false), listener(SOCK_STREAM, "127.0.0.11", 53, true)};
  CHECK(ops::create_and_run(n, at, groups, &replies, &err, ls, &fds));
  CHECK_EQ(err.err, 0);
  CHECK_EQ(fds.size(), size_t{2});
  if (fds.size() != 2) return;
  for (int fd : fds) {
    CHECK_EQ(socket_netns(fd), n->ino);
    CHECK_EQ(local_of(fd), std::string("127.0.0.11:53"));
  }
  int listening = 0;
  socklen_t len = sizeof listening;
  CHECK(::getsockopt(fds[1], SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 && listening == 1);
  // The UDP one holds its address alone: a second one is refused, not given a share.
  std::vector<int> more;
  io::SysError again;
  CHECK(!ns::listen_in(n->fd, {listener(SOCK_DGRAM, "127.0.0.11", 53, true)}, &more, &again));
  CHECK_EQ(again.err, EADDRINUSE);
  CHECK(more.empty());
  // A client inside that connects to it (as a stub resolver does) gets the
  // answer: it comes from 127.0.0.11, the address the listener was bound
  // to once lo was up, not from whatever address routing would pick.
  std::vector<int> client;
  CHECK(ns::listen_in(n->fd, {listener(SOCK_DGRAM, "127.0.0.1", 0, true)}, &client, &again));
  if (client.size() == 1) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(53);
    inet_pton(AF_INET, "127.0.0.11", &to.sin_addr);
    CHECK_EQ(::connect(client[0], reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
    CHECK_EQ(::send(client[0], "q", 1, 0), ssize_t{1});
    pollfd p{fds[0], POLLIN, 0};
    CHECK_EQ(::poll(&p, 1, 2000), 1);
    char buf[8];
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    CHECK_EQ(::recvfrom(fds[0], buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen), ssize_t{1});
    CHECK_EQ(::sendto(fds[0], "a", 1, 0, reinterpret_cast<sockaddr*>(&from), flen), ssize_t{1});
    pollfd back{client[0], POLLIN, 0};
    CHECK_EQ(::poll(&back, 1, 2000), 1);
    CHECK_EQ(::recv(client[0], buf, sizeof buf, 0), ssize_t{1});
    ::close(client[0]);
  }
  for (int fd : fds) ::close(fd);
  Created c;
  c.ns = n;
  release("kt-listen", c);
}

TEST(a_listener_that_cannot_be_opened_releases_the_new_namespace_and_sends_nothing) {
  ops::Place at{g_rundir, "kt-nolisten"};
  auto n = std::make_shared<ns::Namespace>();
  std::vector<ops::Group> groups;
  groups.push_back(group(home(), {link_add("bridge", "kt-l1")}));
  std::vector<io::Reply> replies;
  std::vector<int> fds;
  io::SysError err;
  // The first opens, the second does not (an IPv6 address on an IPv4 socket).
  const std::vector<ns::Listener> ls{listener(SOCK_DGRAM, "127.0.0.11", 53, false), listener(SOCK_STREAM, "::1", 53, true)};
  CHECK(!ops::create_and_run(n, at, groups, &replies, &err, ls, &fds));
  CHECK_EQ(err.err, EINVAL);
  CHECK(fds.empty());
  CHECK_EQ(replies.size(), size_t{1});
  if (replies.size() == 1) CHECK_EQ(replies[0].error, -ECANCELED);
  CHECK(!has_link(*home()->rtnl, "kt-l1"));
  CHECK(!exists(g_rundir + "/kt-nolisten"));
  CHECK_EQ(n->fd, -1);
}

namespace {

std::shared_ptr<io::Monitor> monitor(bool list) {
  io::SysError err;
  io::Socket* s = io::Socket::open(NETLINK_ROUTE, &err);
  io::MonitorOptions opt;
  opt.what = io::kLinks;
  opt.list = list;
  std::shared_ptr<io::Monitor> m = s ? io::Monitor::create(s, opt, &err) : nullptr;
  if (!m) nsnet::test::fail(__FILE__, __LINE__, "monitor: " + err.what);
  else io::MonitorProbe::start(*m);
  return m;
}

// An RTM_NEWLINK for ifindex 7, then a message whose length runs past the
// end of the datagram.
std::vector<uint8_t> truncated_datagram() {
  std::vector<uint8_t> d(512);
  nsnet::nl::Builder b(d.data(), d.size());
  rtnl::LinkSpec l;
  l.ifindex = 7;
  l.name = "kt-x";
  rtnl::encode_link_new(b, 0, rtnl::kChange, l);
  const size_t whole = b.size();
  d.resize(whole + sizeof(nlmsghdr));
  nlmsghdr h{};
  h.nlmsg_len = 4096;
  h.nlmsg_type = RTM_NEWLINK;
  std::memcpy(d.data() + whole, &h, sizeof h);
  return d;
}

// Reads until the monitor queues Synced; returns what a consumer holds
// then: the events since the last resync, which supersedes those before.
std::vector<io::Event> until_synced(io::Monitor& m) {
  std::vector<io::Event> evs, got;
  std::vector<uint8_t> buf(64 * 1024);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    io::MonitorProbe::read(m, &buf);
    got.clear();
    m.take(&got, SIZE_MAX);
    for (io::Event& e : got) {
      if (e.kind == io::EvKind::Resync) evs.clear();
      evs.push_back(std::move(e));
    }
    if (!evs.empty() && evs.back().kind == io::EvKind::Synced) return evs;
    pollfd p{m.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
  }
  nsnet::test::fail(__FILE__, __LINE__, "no Synced event");
  return evs;
}

}  // namespace

TEST(a_datagram_whose_last_message_overruns_it_resyncs_with_a_dump) {
  std::shared_ptr<io::Monitor> m = monitor(false);
  if (!m) return;
  io::MonitorProbe::feed(*m, truncated_datagram());
  std::vector<io::Event> evs = until_synced(*m);
  // The resync supersedes the event before it; the dump lists lo again.
  CHECK(!evs.empty() && evs.front().kind == io::EvKind::Resync && evs.front().reason == io::ResyncReason::Overflow);
  bool lo = false;
  for (const io::Event& e : evs)
    lo = lo || (e.kind == io::EvKind::Link && std::get<rtnl::LinkInfo>(e.obj).ifindex == 1);
  CHECK(lo);
  CHECK_EQ(m->stats().resyncs, uint64_t{1});
}

TEST(a_truncated_datagram_during_a_dump_makes_the_dump_start_over_when_it_ends) {
  std::shared_ptr<io::Monitor> m = monitor(true);  // the initial dump is running
  if (!m) return;
  io::MonitorProbe::feed(*m, truncated_datagram());
  std::vector<io::Event> evs = until_synced(*m);
  CHECK(!evs.empty() && evs.front().kind == io::EvKind::Resync && evs.front().reason == io::ResyncReason::Overflow);
  CHECK_EQ(m->stats().resyncs, uint64_t{2});  // the initial one, then the overflow
}

TEST(fds_sent_with_bytes_arrive_as_copies_of_the_same_sockets_and_too_many_are_reported) {
  int sv[2];
  CHECK_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  const int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK_EQ(io::send_fds(sv[0], "live\n", 5, {udp, tcp}), ssize_t{5});
  char buf[64];
  std::vector<int> got;
  CHECK_EQ(io::recv_fds(sv[1], buf, sizeof buf, &got), ssize_t{5});
  CHECK_EQ(got.size(), size_t{2});
  const auto ino = [](int fd) {
    struct stat st{};
    return ::fstat(fd, &st) == 0 ? st.st_ino : ino_t{0};
  };
  if (got.size() == 2) {
    CHECK(got[0] != udp && got[1] != tcp);
    CHECK_EQ(ino(got[0]), ino(udp));
    CHECK_EQ(ino(got[1]), ino(tcp));
    CHECK_EQ(::fcntl(got[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  }
  for (int fd : got) ::close(fd);
  // Nothing waiting: it says so rather than wait.
  got.clear();
  CHECK_EQ(io::recv_fds(sv[1], buf, sizeof buf, &got), ssize_t{-EAGAIN});
  // More than kMaxFds: the sender refuses; sent by hand, the receiver reports the cut.
  std::vector<int> many(io::kMaxFds + 1, udp);
  CHECK_EQ(io::send_fds(sv[0], "x", 1, many), ssize_t{-EINVAL});
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int) * (io::kMaxFds + 1))]{};
  iovec iov{const_cast<char*>("x"), 1};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  cmsghdr* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * many.size());
  std::memcpy(CMSG_DATA(c), many.data(), sizeof(int) * many.size());
  CHECK_EQ(::sendmsg(sv[0], &m, 0), ssize_t{1});
  got.clear();
  CHECK_EQ(io::recv_fds(sv[1], buf, sizeof buf, &got), ssize_t{-EMSGSIZE});
  for (int fd : got) ::close(fd);
  // The peer gone: 0, as EOF.
  ::close(sv[0]);
  got.clear();
  CHECK_EQ(io::recv_fds(sv[1], buf, sizeof buf, &got), ssize_t{0});
  for (int fd : {sv[1], udp, tcp}) ::close(fd);
}

int main() {
  // A private network and mount namespace for the whole run: a namespace
  // thread's "home", and bind mounts nobody else sees.
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    std::printf("skipped: unshare(CLONE_NEWNET | CLONE_NEWNS): %s (needs root)\n", std::strerror(errno));
    return 77;
  }
  if (::mount("", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::printf("mount --make-rprivate /: %s\n", std::strerror(errno));
    return 1;
  }
  io::SysError err;
  if (!ns::init_home(&err)) {
    std::printf("%s: %s\n", err.what.c_str(), std::strerror(err.err));
    return 1;
  }
  char dir[] = "/tmp/nsnet-kernel-test.XXXXXX";
  if (!::mkdtemp(dir)) {
    std::printf("mkdtemp: %s\n", std::strerror(errno));
    return 1;
  }
  g_rundir = dir;
  const int rc = nsnet::test::run_all();
  home()->close();
  ::umount2(dir, MNT_DETACH);
  ::rmdir(dir);
  return rc;
}
