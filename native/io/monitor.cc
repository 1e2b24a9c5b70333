#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

namespace nsnet::io {

namespace {

constexpr size_t kRecvBuf = 64 * 1024;
// Datagrams read from one socket before the Hub looks at the others.
constexpr int kReadBudget = 64;

}  // namespace

std::shared_ptr<Monitor> Monitor::create(Socket* s, const MonitorOptions& o, SysError* err) {
  std::shared_ptr<Monitor> m(new Monitor(s, o));
  const int fd = s->fd();
  std::vector<unsigned> groups;
  if (o.what & kLinks) groups.push_back(RTNLGRP_LINK);
  if (o.what & kAddrs) groups.insert(groups.end(), {RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR});
  if (o.what & kRoutes) groups.insert(groups.end(), {RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE});
  if (o.what & kNeighs) groups.push_back(RTNLGRP_NEIGH);
  for (unsigned g : groups)
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0)
      return fail(err, errno, "setsockopt(NETLINK_ADD_MEMBERSHIP)"), nullptr;
  // FORCE goes past rmem_max (we are root); plain RCVBUF is the fallback.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &o.rcvbuf, sizeof o.rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf, sizeof o.rcvbuf) < 0)
    return fail(err, errno, "setsockopt(SO_RCVBUF)"), nullptr;
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return fail(err, errno, "fcntl(O_NONBLOCK)"), nullptr;
  return m;
}

Monitor::~Monitor() = default;

bool Monitor::push_locked(Event&& e) {
  // A resync supersedes whatever the consumer has not taken yet.
  if (e.kind == EvKind::Resync) {
    q_.clear();
    resyncs_++;
  }
  q_.push_back(std::move(e));
  if (q_.size() > max_queued_) max_queued_ = q_.size();
  if (q_.size() >= opt_.queue_limit) paused_ = true;
  if (wanted_ && !signalled_) {
    signalled_ = true;
    return true;
  }
  return false;
}

bool Monitor::push(Event&& e) {
  bool notify;
  {
    std::lock_guard<std::mutex> lk(mu_);
    notify = push_locked(std::move(e));
  }
  if (notify && hub_) hub_->ready(this);
  return notify;
}

void Monitor::want() {
  bool notify = false, resume = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    wanted_ = true;
    if (!q_.empty() && !signalled_) notify = signalled_ = true;
    resume = paused_ && q_.size() <= opt_.queue_limit / 2;
  }
  if (notify && hub_) hub_->ready(this);
  if (resume && hub_) hub_->kick(id_);
}

void Monitor::take(std::vector<Event>* out, size_t max) {
  bool resume;
  {
    std::lock_guard<std::mutex> lk(mu_);
    const size_t n = std::min(max, q_.size());
    out->reserve(out->size() + n);
    for (size_t i = 0; i < n; i++) {
      out->push_back(std::move(q_.front()));
      q_.pop_front();
    }
    wanted_ = false;
    signalled_ = false;
    resume = paused_ && q_.size() <= opt_.queue_limit / 2;
  }
  if (resume && hub_) hub_->kick(id_);
}

Monitor::Stats Monitor::stats() {
  std::lock_guard<std::mutex> lk(mu_);
  return Stats{q_.size(), max_queued_, resyncs_, paused_};
}

void Monitor::start() {
  started_ = true;
  if (opt_.list) resync_.begin(ResyncReason::Initial);
}

void Monitor::end_stream(int err) {
  dead_ = true;
  Event e;
  e.kind = EvKind::Error;
  e.err = err;
  push(std::move(e));
}

bool Monitor::dropped_since_check() {
  uint32_t mem[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof mem;
  if (getsockopt(fd(), SOL_SOCKET, SO_MEMINFO, mem, &len) < 0 || len <= SK_MEMINFO_DROPS * sizeof(uint32_t)) return false;
  const bool dropped = mem[SK_MEMINFO_DROPS] != drops_;
  drops_ = mem[SK_MEMINFO_DROPS];
  return dropped;
}

void Monitor::queue(Event&& e) { push(std::move(e)); }

void Monitor::resync_begins() { (void)dropped_since_check(); }

bool Monitor::request_dump(uint16_t type, uint8_t family, uint32_t* seq) {
  uint8_t buf[256];
  nl::Builder b(buf, sizeof buf);
  *seq = sock_->reserve_seq(1);
  switch (type) {
    case RTM_GETLINK: rtnl::encode_link_get(b, *seq, 0, ""); break;
    case RTM_GETADDR: rtnl::encode_addr_dump(b, *seq, family, 0); break;
    case RTM_GETROUTE: rtnl::encode_route_dump(b, *seq, family, 0); break;
    default: rtnl::encode_neigh_dump(b, *seq, family); break;
  }
  SysError err;
  if (!sock_->send(buf, b.size(), &err)) {
    end_stream(err.err);
    return false;
  }
  return true;
}

// The kernel produces a dump's next part only inside a successful read of
// this socket (netlink_recvmsg). If the socket is empty while a dump is
// running, a part could not be queued (the buffer was full, which a small
// buffer and a burst make likely): nothing will come unless we read
// something. So ask for something small, lo, whose answer we ignore.
void Monitor::poke() {
  uint8_t buf[128];
  nl::Builder b(buf, sizeof buf);
  rtnl::encode_link_get(b, sock_->reserve_seq(1), 1, "");
  SysError ignored;  // unanswered, the next readable event or poke tries again
  sock_->send(buf, b.size(), &ignored);
  poked_ = true;
}

void Monitor::on_readable(uint8_t* buf, size_t cap) {
  for (int i = 0; i < kReadBudget && !dead_; i++) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (paused_) return;
    }
    bool truncated = false;
    const ssize_t n = sock_->receive(buf, cap, true, &truncated);
    if (n == -EAGAIN) {
      if (dropped_since_check()) {
        resync_.lost();  // without an ENOBUFS (see drops_)
        continue;
      }
      if (resync_.dumping() && !poked_) poke();
      return;
    }
    if (n == -ENOBUFS) {
      resync_.lost();  // the kernel dropped events for us
      continue;
    }
    if (n < 0) {
      end_stream(static_cast<int>(-n));
      return;
    }
    poked_ = false;
    if (truncated) {
      resync_.lost();  // a datagram cut short is lost events
      continue;
    }
    resync_.on_datagram(buf, static_cast<size_t>(n));
  }
}

Hub::Hub(std::function<void(std::shared_ptr<Monitor>)> on_ready) : on_ready_(std::move(on_ready)) {
  buf_.resize(kRecvBuf);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
  thread_ = std::thread([this] { loop(); });
}

bool Hub::add(const std::shared_ptr<Monitor>& m, SysError* err) {
  if (epfd_ < 0 || evfd_ < 0) return fail(err, EMFILE, "epoll/eventfd");
  {
    std::lock_guard<std::mutex> lk(mu_);
    m->id_ = next_id_++;
    m->hub_ = this;
    monitors_[m->id_] = m;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = m->id_;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, m->fd(), &ev) < 0) {
      const int e = errno;
      monitors_.erase(m->id_);
      m->hub_ = nullptr;
      return fail(err, e, "epoll_ctl");
    }
  }
  kick(m->id_);  // the Hub thread starts it (and its first dump)
  return true;
}

void Hub::remove(const std::shared_ptr<Monitor>& m) {
  std::lock_guard<std::mutex> lk(mu_);
  if (monitors_.erase(m->id_)) epoll_ctl(epfd_, EPOLL_CTL_DEL, m->fd(), nullptr);
}

void Hub::kick(uint64_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    kicks_.push_back(id);
  }
  const uint64_t one = 1;
  (void)!::write(evfd_, &one, sizeof one);
}

// Paused monitors are taken out of the epoll set rather than given an empty
// event mask: a pending ENOBUFS (sk_err) would still report EPOLLERR.
void Hub::set_reading(Monitor* m, bool on) {
  std::lock_guard<std::mutex> lk(mu_);
  if (!monitors_.count(m->id_)) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = m->id_;
  if (on) epoll_ctl(epfd_, EPOLL_CTL_ADD, m->fd(), &ev);
  else epoll_ctl(epfd_, EPOLL_CTL_DEL, m->fd(), nullptr);
}

void Hub::loop() {
  pthread_setname_np(pthread_self(), "nsnet-watch");
  epoll_event evs[64];
  for (;;) {
    const int n = epoll_wait(epfd_, evs, 64, -1);
    if (n < 0 && errno != EINTR) return;
    for (int i = 0; i < n; i++) {
      std::vector<std::shared_ptr<Monitor>> work;
      const bool control = evs[i].data.u64 == 0;
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (stopping_) return;
        if (control) {
          uint64_t v;
          (void)!::read(evfd_, &v, sizeof v);
          for (uint64_t id : kicks_) {
            auto it = monitors_.find(id);
            if (it != monitors_.end()) work.push_back(it->second);
          }
          kicks_.clear();
        } else {
          auto it = monitors_.find(evs[i].data.u64);
          if (it != monitors_.end()) work.push_back(it->second);
        }
      }
      for (auto& m : work) {
        if (m->dead_) continue;
        if (control) {
          if (!m->started_) {
            m->start();
          } else {
            bool resume;
            {
              std::lock_guard<std::mutex> lk(m->mu_);
              resume = m->paused_ && m->q_.size() <= m->opt_.queue_limit / 2;
              if (resume) m->paused_ = false;
            }
            if (resume) set_reading(m.get(), true);
            continue;
          }
        } else {
          m->on_readable(buf_.data(), buf_.size());
        }
        bool paused;
        {
          std::lock_guard<std::mutex> lk(m->mu_);
          paused = m->paused_;
        }
        if (paused || m->dead_) set_reading(m.get(), false);
      }
    }
  }
}

void Hub::stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!::write(evfd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lk(mu_);
  monitors_.clear();
  if (epfd_ >= 0) ::close(epfd_);
  if (evfd_ >= 0) ::close(evfd_);
  epfd_ = evfd_ = -1;
}

}  // namespace nsnet::io
