#include "reset.h"

#include <errno.h>
#include <linux/mptcp.h>
#include <linux/tcp_metrics.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "../ns/ns.h"
#include "../ops/extras.h"
#include "../ops/ops.h"
#include "../ops/sockets.h"
#include "convert.h"
#include "handle.h"
#include "nft.h"

namespace nsnet::addon {

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

Napi::Array from_pairs(Napi::Env env, const Pairs& pairs) {
  return to_array(env, pairs, [](Napi::Env e, const std::pair<std::string, std::string>& p) {
    Napi::Array a = Napi::Array::New(e, 2);
    a.Set(0u, p.first);
    a.Set(1u, p.second);
    return a;
  });
}

// Every dump a reset compares.
struct Snap {
  std::vector<rtnl::LinkInfo> links;
  std::vector<rtnl::AddrInfo> addrs;
  std::vector<rtnl::RouteInfo> routes;
  std::vector<rtnl::RuleInfo> rules;
  std::vector<rtnl::NeighInfo> neighs;
  io::Reply status;
};

bool read_snapshot(Namespace& ns, Snap* out, io::SysError* err) {
  return ns.with_rtnl([&](io::Socket& s) {
    auto ok = [&](bool r) { return r && !out->status.error; };
    return ok(ops::list_links(s, 0, "", &out->links, &out->status, err)) &&
           ok(ops::list_addrs(s, AF_UNSPEC, 0, &out->addrs, &out->status, err)) &&
           ok(ops::list_routes(s, AF_UNSPEC, 0, &out->routes, &out->status, err)) &&
           ok(ops::list_rules(s, AF_UNSPEC, &out->rules, &out->status, err)) &&
           ok(ops::list_neighs(s, AF_INET, &out->neighs, &out->status, err)) &&
           ok(ops::list_neighs(s, AF_INET6, &out->neighs, &out->status, err));
  });
}

using ExtrasRef = std::shared_ptr<const ops::Extras>;

// What the addon hands JS to hold and give back as it is (a fresh
// namespace's sysctls, a snapshot's extras): an External tagged with its
// kind, so one is never taken for the other.
constexpr napi_type_tag kSysctlsTag = {0x6e736e6574737973ull, 0x3a8c41e07f2d9b65ull};
constexpr napi_type_tag kExtrasTag = {0x6e736e6574657874ull, 0x5d17b2c94e80a3f1ull};

template <class T>
Napi::Value held(Napi::Env env, T value, const napi_type_tag& tag) {
  auto e = Napi::External<T>::New(env, new T(std::move(value)), [](Napi::Env, T* p) { delete p; });
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, e, &tag), Napi::Value());
  return e;
}

// What held() made with `tag`, or a TypeError naming `what`.
template <class T>
const T* held_back(Napi::Value v, const napi_type_tag& tag, const char* what) {
  bool ok = false;
  if (v.IsExternal()) napi_check_object_type_tag(v.Env(), v, &tag, &ok);
  if (!ok) NAPI_THROW(Napi::TypeError::New(v.Env(), what), nullptr);
  return v.As<Napi::External<T>>().Data();
}

// A socket of the namespace a kernel may lack (no IPsec, no generic
// netlink): opened here on first use (the thread enters namespaces), null
// where the kernel has no such protocol.
bool optional_socket(int nsfd, ns::LazySocket& lazy, io::Socket** out, io::SysError* err) {
  io::SysError e;
  *out = lazy.get(nsfd, &e);
  if (!*out && e.err != EPROTONOSUPPORT) return (*err = e, false);
  return true;
}

// A generic netlink family's id, found once through a namespace's socket
// and kept (ids are the kernel's, not a namespace's): 0 where the kernel
// has no such family. Any other answer fails, and is asked again next time.
bool genl_family(io::Socket& genl, const char* name, std::atomic<int>& known, uint16_t* id, io::SysError* err) {
  const int k = known.load();
  if (k >= 0) return (*id = static_cast<uint16_t>(k), true);
  uint16_t found = 0;
  io::Reply r;
  auto enc = [name](nl::Builder& b, uint32_t seq) { return rtnl::encode_genl_family(b, seq, name); };
  if (!genl.request(enc, [&](size_t, const nlmsghdr* h) { rtnl::decode_genl_family(h, &found); }, &r, err)) return false;
  if (r.error && r.error != -ENOENT) return io::fail(err, -r.error, std::string("genetlink family ") + name);
  if (!r.error && !found) return io::fail(err, EPROTO, std::string("genetlink family ") + name + ": no id in the answer");
  *id = found;
  known.store(found);
  return true;
}

std::atomic<int> g_mptcp_family{-1}, g_tcp_metrics_family{-1};

// Runs f(ops::ExtrasSockets) with every socket the extras need, each locked,
// in one order (rtnetlink, nf_tables, xfrm, generic netlink); no other job
// holds two.
template <class F>
bool with_extras_sockets(Namespace& ns, io::SysError* err, F&& f) {
  io::Socket *x = nullptr, *g = nullptr;
  if (!optional_socket(ns.fd, ns.xfrm, &x, err) || !optional_socket(ns.fd, ns.genl, &g, err)) return false;
  return ns.with_rtnl([&](io::Socket& rt) {
    return ns.with_nfnl(err, [&](io::Socket& nf) {
      ops::ExtrasSockets s{rt, &nf};
      auto with_genl = [&]() {
        if (!g) return f(s);
        return ns.genl.with(ns.fd, err, [&](io::Socket& gs) {
          s.genl = &gs;
          return genl_family(gs, MPTCP_PM_NAME, g_mptcp_family, &s.mptcp, err) &&
                 genl_family(gs, TCP_METRICS_GENL_NAME, g_tcp_metrics_family, &s.tcp_metrics, err) && f(s);
        });
      };
      if (!x) return with_genl();
      return ns.xfrm.with(ns.fd, err, [&](io::Socket& xs) {
        s.xfrm = &xs;
        return with_genl();
      });
    });
  });
}

// The extras a reset must match (see ops/extras.h): a snapshot's, brought
// back. Legacy iptables tables in use, or anything still unlike `want`,
// stop the reset, in *status.
bool reset_extras(Namespace& ns, const ops::Extras& want, io::Reply* status, io::SysError* err) {
  std::string legacy;
  if (!ops::legacy_tables(ns.fd, &legacy, err)) return false;
  if (!legacy.empty()) {
    status->error = -EBUSY;
    status->message = "legacy iptables tables are in use (" + legacy + "), whose rules a reset cannot put back";
    return true;
  }
  ops::Extras now;
  const bool ok = with_extras_sockets(ns, err, [&](const ops::ExtrasSockets& s) { return ops::reset_extras(s, want, &now, status, err); });
  if (!ok || status->error) return ok;
  const std::string diff = ops::extras_diff(want, now);
  if (!diff.empty()) {
    status->error = -ENOTEMPTY;
    status->message = "still unlike a fresh namespace: " + diff;
  }
  return true;
}

void set_snapshot(Napi::Env env, Napi::Object o, const Snap& s) {
  o.Set("links", to_array(env, s.links, from_link));
  o.Set("addresses", to_array(env, s.addrs, from_addr));
  o.Set("routes", to_array(env, s.routes, from_route));
  o.Set("rules", to_array(env, s.rules, from_fib_rule));
  o.Set("neighbours", to_array(env, s.neighs, from_neigh));
}

// /proc/sys/net back to a fresh namespace's values (a thread that enters namespaces).
struct SysctlResult {
  std::vector<std::string> changed;
  Pairs left;
};

bool restore_sysctls(Namespace& ns, const Pairs& want, SysctlResult* out, io::SysError* err) {
  if (!ns::sysctl_restore(ns.fd, want, &ns.sysctls, &out->changed, &out->left, err)) return false;
  // Drawn at random in every fresh namespace (sysctl_dump leaves it out): a new one here too.
  uint32_t k[4];
  std::random_device rd;
  for (uint32_t& x : k) x = rd();
  char key[40];
  std::snprintf(key, sizeof key, "%08x-%08x-%08x-%08x", k[0], k[1], k[2], k[3]);
  io::SysError e;
  if (!ns::sysctl_write(ns.fd, "net/ipv4/tcp_fastopen_key", key, &e)) out->left.emplace_back("ipv4/tcp_fastopen_key", "(" + e.what + ")");
  return true;
}

void set_sysctls(Napi::Env env, Napi::Object o, const SysctlResult& r) {
  o.Set("changed", to_array(env, r.changed, [](Napi::Env e, const std::string& s) { return Napi::String::New(e, s); }));
  o.Set("left", from_pairs(env, r.left));
}

// The namespace's conntrack entries, then its expectations.
bool flush_conntrack(io::Socket& s, io::SysError* err) {
  for (bool exp : {false, true}) {
    io::Reply status;
    auto enc = [&](nl::Builder& b, uint32_t seq) { return nft::encode_ct_flush(b, seq, exp); };
    if (!s.request(enc, [](size_t, const nlmsghdr*) {}, &status, err)) return false;
    // ENOENT: nothing was tracked (the table is made on first use).
    if (status.error && status.error != -ENOENT) return io::fail(err, -status.error, exp ? "flush conntrack expectations" : "flush conntrack");
  }
  return true;
}

// Every nf_tables table of the namespace goes, in one transaction; the
// kernel's refusal, if any, in *status.
bool clear_nftables(io::Socket& s, io::Reply* status, io::SysError* err) {
  std::vector<nft::Table> tables;
  if (!ops::nft_list_tables(s, 0, &tables, status, err)) return false;
  if (status->error || tables.empty()) return true;
  std::vector<ops::NftOp> list(tables.size());
  for (size_t i = 0; i < tables.size(); i++) {
    list[i].obj = ops::NftObj::Table;
    list[i].verb = ops::NftVerb::Destroy;
    list[i].table.family = tables[i].family;
    list[i].table.name = tables[i].name;
  }
  ops::NftResult r;
  if (!ops::nft_transact(s, list, false, 0, &r, err)) return false;
  *status = r.batch;
  for (const io::Reply& x : r.replies)
    if (!status->error && x.error) *status = x;
  return true;
}

}  // namespace

Napi::Value list_sockets(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
    ops::SocketQuery q;
    ops::SocketList list;
    bool want_counts = false, want_raw = false;
    void run() override {
      // What only the namespace's own /proc/net tells, read in one visit
      // when the query needs it: its socket counts (which dumps can find
      // anything), and its raw sockets (which sock_diag lists only where
      // the kernel has raw_diag).
      std::string stat, stat6, raw, raw6;
      io::SysError e;
      const bool read = !(want_counts || want_raw) || ns::run_in(ns->fd, &e, [&] {
        const bool s4 = !want_counts || ns::read_here("/proc/thread-self/net/sockstat", &stat, &e);
        const bool s6 = !want_counts || ns::read_here("/proc/thread-self/net/sockstat6", &stat6, &e);
        const bool r4 = !want_raw || ns::read_here("/proc/thread-self/net/raw", &raw, &e);
        const bool r6 = !want_raw || ns::read_here("/proc/thread-self/net/raw6", &raw6, &e);
        return s4 && s6 && r4 && r6;
      });
      sockdiag::SockCounts counts;
      const bool counted = want_counts && read && sockdiag::parse_sockstat(stat, &counts) && sockdiag::parse_sockstat(stat6, &counts);
      if (!ns->diag.with(ns->fd, &err, [&](io::Socket& s) { return ops::list_sockets(s, q, counted ? &counts : nullptr, &list, &err); }))
        return;
      // The kernel's own netlink sockets (port 0) and nsnet's are no tenant's.
      auto& v = list.sockets;
      v.erase(std::remove_if(v.begin(), v.end(),
                             [&](const sockdiag::SockInfo& s) { return s.family == AF_NETLINK && (s.portid == 0 || ns->is_ours(s.protocol, s.portid)); }),
              v.end());
      if (!want_raw) return;
      std::vector<sockdiag::SockInfo> raws;
      if (q.v4 && !(read && sockdiag::parse_proc_raw(raw, AF_INET, &raws))) list.unlisted.push_back("inet/raw");
      if (q.v6 && !(read && sockdiag::parse_proc_raw(raw6, AF_INET6, &raws))) list.unlisted.push_back("inet6/raw");
      for (const auto& r : raws)
        if (r.state < 32 && (q.states & (1u << r.state))) v.push_back(r);
    }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = Napi::Object::New(env);
      o.Set("items", to_array(env, list.sockets, from_sock));
      o.Set("unlisted", to_array(env, list.unlisted, [](Napi::Env e, const std::string& s) { return Napi::String::New(e, s); }));
      o.Set("destroyed", list.destroyed);
      return o;
    }
  };
  auto j = std::make_unique<J>();
  j->ns = NetnsHandle::From(info[0]);
  j->q.destroy_timewait = info[1].ToBoolean().Value();
  if (info.Length() > 2 && info[2].IsNumber()) j->q.kinds = info[2].As<Napi::Number>().Uint32Value() & ops::kAllKinds;
  if (info.Length() > 3 && info[3].IsNumber()) j->q.states = info[3].As<Napi::Number>().Uint32Value();
  if (info.Length() > 4 && info[4].IsNumber()) {
    const uint32_t f = info[4].As<Napi::Number>().Uint32Value();
    j->q.v4 = f & 1;
    j->q.v6 = f & 2;
  }
  // The counts pay off where a dump would walk a whole hash table of the
  // host for nothing: UDP and UDP-Lite (every bound socket), TCP in any
  // state but LISTEN (every connection). Listening TCP sockets alone (who
  // listens on the host's ports) walk only the listening hash, cheaper
  // than entering the namespace to read the counts.
  constexpr uint32_t kListen = 1u << 10;  // TCPF_LISTEN
  j->want_counts = (j->q.kinds & (ops::kUdp | ops::kUdpLite)) || ((j->q.kinds & ops::kTcp) && (j->q.states & ~kListen));
  j->want_raw = j->q.kinds & ops::kRaw;
  // Without /proc to read, the job enters no namespace once its sock_diag socket is open.
  const bool enters = j->want_counts || j->want_raw || !j->ns->diag.is_open();
  return runner.submit(info.Env(), j.release(), enters ? Lane::Namespace : Lane::Netlink);
}

Napi::Value snapshot(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
    Snap snap;
    bool with_extras = false;
    std::shared_ptr<ops::Extras> extras;
    void run() override {
      if (!read_snapshot(*ns, &snap, &err) || snap.status.error || !with_extras) return;
      extras = std::make_shared<ops::Extras>();
      with_extras_sockets(*ns, &err, [&](const ops::ExtrasSockets& s) { return ops::read_extras(s, extras.get(), &snap.status, &err); });
    }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = from_reply(env, snap.status);
      set_snapshot(env, o, snap);
      if (extras) o.Set("extras", held<ExtrasRef>(env, extras, kExtrasTag));
      return o;
    }
  };
  auto j = std::make_unique<J>();
  j->ns = NetnsHandle::From(info[0]);
  j->with_extras = info.Length() > 1 && info[1].ToBoolean().Value();
  // The extras' sockets are opened inside the namespace, on first use.
  const Lane lane = j->with_extras ? Lane::Namespace : Lane::Netlink;
  return runner.submit(info.Env(), j.release(), lane);
}

Napi::Value sysctl_dump(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
    std::shared_ptr<const Pairs> out;
    void run() override {
      auto pairs = std::make_shared<Pairs>();
      if (ns::sysctl_dump(ns->fd, pairs.get(), &err)) out = std::move(pairs);
    }
    // Opaque to JS: handed back to resetStep as it is, never copied into JS values.
    Napi::Value value(Napi::Env env) override { return held<std::shared_ptr<const Pairs>>(env, out, kSysctlsTag); }
  };
  auto j = std::make_unique<J>();
  j->ns = NetnsHandle::From(info[0]);
  return runner.submit(info.Env(), j.release(), Lane::Namespace);
}

Napi::Value reset_step(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
    bool clear = false;
    std::vector<ops::Group> groups;
    std::shared_ptr<const Pairs> want;
    ExtrasRef extras;
    // The first refusal and the stage it stopped at; later stages do not run.
    io::Reply status;
    std::string stage;
    SysctlResult sys;
    Snap snap;
    void run() override {
      auto stop = [&](const char* at, const io::Reply& r) { return r.error ? (status = r, stage = at, true) : false; };
      if (clear) {
        io::Reply r;
        if (!ns->with_nfnl(&err, [&](io::Socket& s) { return clear_nftables(s, &r, &err) && (stop("nftables", r) || flush_conntrack(s, &err)); }) ||
            status.error)
          return;
        if (extras && (!reset_extras(*ns, *extras, &r, &err) || stop("extras", r))) return;
      }
      if (!groups.empty()) {
        std::vector<io::Reply> replies;
        if (!ops::run_groups(groups, &replies, &err)) return;
        for (const io::Reply& r : replies)
          if (stop("requests", r)) return;
      }
      if (want && !restore_sysctls(*ns, *want, &sys, &err)) return;
      if (read_snapshot(*ns, &snap, &err)) stop("dump", snap.status);
    }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = from_reply(env, status);
      o.Set("stage", stage);
      set_sysctls(env, o, sys);
      set_snapshot(env, o, snap);
      return o;
    }
  };
  auto j = std::make_unique<J>();
  j->ns = NetnsHandle::From(info[0]);
  Napi::Object o = info[1].As<Napi::Object>();
  j->clear = o.Get("clear").ToBoolean().Value();
  if (o.Get("groups").IsArray()) j->groups = to_groups(o.Get("groups"));
  Napi::Value want = o.Get("sysctls");
  if (!want.IsUndefined()) {
    auto* w = held_back<std::shared_ptr<const Pairs>>(want, kSysctlsTag, "resetStep's sysctls must be what sysctlDump returned");
    if (!w) return Napi::Value();
    j->want = *w;
  }
  Napi::Value extras = o.Get("extras");
  if (!extras.IsUndefined()) {
    auto* x = held_back<ExtrasRef>(extras, kExtrasTag, "resetStep's extras must be what snapshot returned");
    if (!x) return Napi::Value();
    j->extras = *x;
  }
  // It enters the namespace (sysctls, a socket opened on first use), off the request path.
  return runner.submit(info.Env(), j.release(), Lane::Recycle);
}

}  // namespace nsnet::addon
