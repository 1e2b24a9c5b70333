// Module entry: each export turns its arguments into a Job whose run() is
// one call below the addon (ns, ops, io), queues it on the right lane (see
// runner.h) and returns a promise.
#include <napi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <vector>

#include "../io/inet.h"
#include "../io/lock.h"
#include "../ops/group.h"
#include "convert.h"
#include "handle.h"
#include "nft.h"
#include "reset.h"
#include "runner.h"
#include "watch.h"
#include "channel.h"

namespace nsnet::addon {

namespace {

// Opening an nf_tables socket, or writing a sysctl, enters the namespace: only the namespace lane may.
Lane lane_for(const std::vector<ops::Group>& groups) {
  for (const ops::Group& g : groups)
    if ((g.is_nft && nft_lane(*g.ns) == Lane::Namespace) || g.is_sysctl) return Lane::Namespace;
  return Lane::Netlink;
}

// { family: 4 | 6, type: 'udp' | 'tcp', address, port, reuse } from JS.
std::vector<ns::Listener> to_listeners(Napi::Value v) {
  if (!v.IsArray()) return {};
  return from_array(v, [](Napi::Value x) {
    Napi::Object o = x.As<Napi::Object>();
    ns::Listener l;
    l.domain = o.Get("family").ToNumber().Int32Value() == 6 ? AF_INET6 : AF_INET;
    l.type = o.Get("type").ToString().Utf8Value() == "tcp" ? SOCK_STREAM : SOCK_DGRAM;
    l.address = o.Get("address").ToString().Utf8Value();
    l.port = o.Get("port").ToNumber().Int32Value();
    l.reuse = o.Get("reuse").ToBoolean().Value();
    return l;
  });
}

// Hands fds over to JS as numbers: from then on they are JS's to close.
Napi::Value hand_over(Napi::Env env, std::vector<int>* fds) {
  Napi::Array a = Napi::Array::New(env, fds->size());
  for (size_t i = 0; i < fds->size(); i++) a.Set(static_cast<uint32_t>(i), (*fds)[i]);
  fds->clear();
  return a;
}

// 0 | 4 | 6 from JS, as an address family.
uint8_t family_arg(Napi::Value v) {
  const int f = v.ToNumber().Int32Value();
  return f == 4 ? AF_INET : f == 6 ? AF_INET6 : AF_UNSPEC;
}

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) : runner(env), watches(std::make_shared<Watches>(env)) {
    Napi::Function handle = NetnsHandle::Define(env);
    handle_ctor = Napi::Persistent(handle);
    DefineAddon(exports, {
                             InstanceMethod<&Addon::NewHandle>("newHandle"),
                             InstanceMethod<&Addon::NsCreate>("nsCreate"),
                             InstanceMethod<&Addon::NsOpen>("nsOpen"),
                             InstanceMethod<&Addon::NsRelease>("nsRelease"),
                             InstanceMethod<&Addon::NsMove>("nsMove"),
                             InstanceMethod<&Addon::Sysctl>("sysctl"),
                             InstanceMethod<&Addon::SocketIn>("socketIn"),
                             InstanceMethod<&Addon::ListenIn>("listenIn"),
                             InstanceMethod<&Addon::Exec>("exec"),
                             InstanceMethod<&Addon::Links>("links"),
                             InstanceMethod<&Addon::Addrs>("addrs"),
                             InstanceMethod<&Addon::Routes>("routes"),
                             InstanceMethod<&Addon::Rules>("rules"),
                             InstanceMethod<&Addon::Snapshot>("snapshot"),
                             InstanceMethod<&Addon::Neighs>("neighs"),
                             InstanceMethod<&Addon::Fdb>("fdb"),
                             InstanceMethod<&Addon::GetStats>("stats"),
                             InstanceMethod<&Addon::Prewake>("prewake"),
                             InstanceMethod<&Addon::NftTransact>("nftTransact"),
                             InstanceMethod<&Addon::NftList>("nftList"),
                             InstanceMethod<&Addon::WatchOpen>("watchOpen"),
                             InstanceMethod<&Addon::Sockets>("sockets"),
                             InstanceMethod<&Addon::SysctlDump>("sysctlDump"),
                             InstanceMethod<&Addon::ResetStep>("resetStep"),
                             InstanceMethod<&Addon::PeerCred>("peerCred"),
                             InstanceMethod<&Addon::Flock>("flock"),
                             InstanceMethod<&Addon::SetShapes>("setShapes"),
                             InstanceMethod<&Addon::ShapeKeys>("shapeKeys"),
                             InstanceValue("NetnsHandle", handle),
                             InstanceValue("Channel", Channel::Define(env)),
                         });
    env.AddCleanupHook([this] {
      watches->shutdown();
      runner.shutdown();
    });
    // Keep the code mapped until the process ends: a worker_thread's loop
    // runs our handle's close callback after Node has unloaded its copy.
    Dl_info self;
    if (dladdr(reinterpret_cast<void*>(&pin_marker), &self) && self.dli_fname) dlopen(self.dli_fname, RTLD_NOW | RTLD_NODELETE);
  }

  static void pin_marker() {}

  Runner runner;
  std::shared_ptr<Watches> watches;
  Napi::FunctionReference handle_ctor;
  Shapes shapes;

 private:
  // stats(reset?: boolean) -> { jobs, drains, maxDrainUs, maxDrainCpuUs, drainsOver2ms, waits, waitsDone,
  //                             maxWaitUs, watchDeliveries, maxWatchDeliveryUs, maxWatchDeliveryCpuUs }
  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    Stats& st = runner.stats();
    Busy& w = watches->deliveries;
    o.Set("jobs", static_cast<double>(st.jobs));
    o.Set("drains", static_cast<double>(st.drains.count));
    o.Set("maxDrainUs", st.drains.max_us);
    o.Set("maxDrainCpuUs", st.drains.max_cpu_us);
    o.Set("drainsOver2ms", static_cast<double>(st.drains.over_2ms));
    o.Set("waits", static_cast<double>(st.waits.count));
    o.Set("waitsDone", static_cast<double>(st.waits_done));
    o.Set("maxWaitUs", st.waits.max_us);
    o.Set("watchDeliveries", static_cast<double>(w.count));
    o.Set("maxWatchDeliveryUs", w.max_us);
    o.Set("maxWatchDeliveryCpuUs", w.max_cpu_us);
    if (info[0].ToBoolean().Value()) {
      st = Stats{};
      w = Busy{};
    }
    return o;
  }

  // prewake(us: number): wakes the namespace thread (see Executor::prewake).
  Napi::Value Prewake(const Napi::CallbackInfo& info) {
    runner.prewake_namespace(info[0].ToNumber().Int32Value());
    return info.Env().Undefined();
  }

  Napi::Value NftTransact(const Napi::CallbackInfo& info) { return nft_transact(runner, info); }
  Napi::Value NftList(const Napi::CallbackInfo& info) { return nft_list(runner, info); }
  Napi::Value WatchOpen(const Napi::CallbackInfo& info) { return watches->open(runner, info); }
  Napi::Value Sockets(const Napi::CallbackInfo& info) { return list_sockets(runner, info); }
  Napi::Value SysctlDump(const Napi::CallbackInfo& info) { return sysctl_dump(runner, info); }
  Napi::Value ResetStep(const Napi::CallbackInfo& info) { return reset_step(runner, info); }

  // setShapes({ link, addr, ... }): the functions that build those objects from here on (see Shapes).
  Napi::Value SetShapes(const Napi::CallbackInfo& info) {
    if (!info[0].IsObject()) NAPI_THROW(Napi::TypeError::New(info.Env(), "setShapes takes an object of functions"), Napi::Value());
    shapes.set(info[0].As<Napi::Object>());
    return info.Env().Undefined();
  }

  // shapeKeys() -> { link: [...keys], ... }: each shape's keys in the order its function takes them.
  Napi::Value ShapeKeys(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct Plain {
      Shapes& s;
      explicit Plain(Shapes& x) : s(x) { s.plain = true; }
      ~Plain() { s.plain = false; }
    } plain(shapes);
    const Napi::Object made[] = {from_link(env, {}), from_addr(env, {}), from_route(env, {}), from_neigh(env, {}),
                                 from_fib_rule(env, {}), from_fdb(env, {}), from_sock(env, {}), from_reply(env, {})};
    static_assert(sizeof made / sizeof made[0] == kShapeCount, "one object per shape, in kShapeNames' order");
    Napi::Object out = Napi::Object::New(env);
    for (size_t i = 0; i < kShapeCount; i++) out.Set(kShapeNames[i], made[i].GetPropertyNames());
    return out;
  }

  // newHandle() -> NetnsHandle, empty until nsCreate fills it. Ops in the
  // same nsCreate call may name it; anything else using it first fails.
  Napi::Value NewHandle(const Napi::CallbackInfo& info) {
    return NetnsHandle::New(info.Env(), handle_ctor, std::make_shared<Namespace>());
  }

  // nsCreate(rundir, name: string | null, handle?, groups?, listeners?) -> Promise<{ handle, replies, fds }>
  // A null name makes an anonymous namespace, held only by its handle. The
  // listeners (see listenIn) are opened in it and the groups (see exec) run
  // right after, in the same job: all or nothing (see ops::create_and_run).
  Napi::Value NsCreate(const Napi::CallbackInfo& info) {
    struct J : Job {
      ops::Place at;
      std::shared_ptr<Namespace> ns;
      Napi::ObjectReference handle;
      std::vector<ops::Group> groups;
      std::vector<io::Reply> replies;
      std::vector<ns::Listener> listeners;
      std::vector<int> fds;
      bool created = false;
      ~J() override {
        for (int fd : fds) ::close(fd);  // never handed over
      }
      void run() override { created = ops::create_and_run(ns, at, groups, &replies, &err, listeners, &fds); }
      Napi::Value value(Napi::Env env) override {
        if (created) ns->published = true;
        Napi::Object o = Napi::Object::New(env);
        o.Set("handle", handle.Value());
        o.Set("replies", to_array(env, replies, from_reply));
        o.Set("fds", hand_over(env, &fds));
        return o;
      }
    };
    auto j = std::make_unique<J>();
    j->at.rundir = info[0].ToString().Utf8Value();
    if (info[1].IsString()) j->at.name = info[1].As<Napi::String>().Utf8Value();
    Napi::Object h = info[2].IsObject() ? info[2].As<Napi::Object>() : NetnsHandle::New(info.Env(), handle_ctor, std::make_shared<Namespace>());
    j->ns = NetnsHandle::Get(h);
    if (!j->ns || j->ns->is_ready()) NAPI_THROW(Napi::TypeError::New(info.Env(), "nsCreate needs a new handle"), Napi::Value());
    j->handle = Napi::Persistent(h);
    j->listeners = to_listeners(info[4]);
    {
      Creating creating(j->ns.get());
      j->groups = to_groups(info[3]);
    }
    return runner.submit(info.Env(), j.release(), Lane::Namespace);
  }

  // nsMove(rundir, from: string, to: string, groups?) -> Promise<{ replies }>
  // Renames a namespace mounted in rundir, then runs the groups (see exec)
  // in the same job: a namespace made ahead of time gets its owner's name
  // and its owner's configuration in one trip. A failed group leaves the
  // namespace under its new name (the caller decides what becomes of it).
  Napi::Value NsMove(const Napi::CallbackInfo& info) {
    struct J : Job {
      std::string rundir, from, to;
      std::vector<ops::Group> groups;
      std::vector<io::Reply> replies;
      void run() override {
        if (ns::move(rundir, from, to, &err)) ops::run_groups(groups, &replies, &err);
      }
      Napi::Value value(Napi::Env env) override {
        Napi::Object o = Napi::Object::New(env);
        o.Set("replies", to_array(env, replies, from_reply));
        return o;
      }
    };
    auto j = std::make_unique<J>();
    j->rundir = info[0].ToString().Utf8Value();
    j->from = info[1].ToString().Utf8Value();
    j->to = info[2].ToString().Utf8Value();
    j->groups = to_groups(info[3]);
    const Lane lane = lane_for(j->groups);
    return runner.submit(info.Env(), j.release(), lane);
  }

  // nsOpen(path: string) -> Promise<NetnsHandle>
  Napi::Value NsOpen(const Napi::CallbackInfo& info) {
    struct J : Job {
      Napi::FunctionReference* ctor = nullptr;
      std::string path;
      std::shared_ptr<Namespace> ns = std::make_shared<Namespace>();
      void run() override {
        ns::Opened opened;
        if (ns::open(path, &opened, &err)) ns->fill(opened);
      }
      Napi::Value value(Napi::Env env) override { return NetnsHandle::New(env, *ctor, std::move(ns)); }
    };
    auto j = std::make_unique<J>();
    j->ctor = &handle_ctor;
    j->path = info[0].ToString().Utf8Value();
    return runner.submit(info.Env(), j.release(), Lane::Namespace);
  }

  // nsRelease(rundir: string, name: string) -> Promise<void>
  Napi::Value NsRelease(const Napi::CallbackInfo& info) {
    struct J : Job {
      std::string rundir, name;
      void run() override { ns::release(rundir, name, &err); }
      Napi::Value value(Napi::Env env) override { return env.Undefined(); }
    };
    auto j = std::make_unique<J>();
    j->rundir = info[0].ToString().Utf8Value();
    j->name = info[1].ToString().Utf8Value();
    return runner.submit(info.Env(), j.release(), Lane::Namespace);
  }

  // sysctl(ns, key: string, value?: string) -> Promise<string | undefined>
  Napi::Value Sysctl(const Napi::CallbackInfo& info) {
    struct J : Job {
      std::shared_ptr<Namespace> ns;
      std::string key, val;
      bool write = false;
      void run() override {
        write ? ns::sysctl_write(ns->fd, key, val, &err) : ns::sysctl_read(ns->fd, key, &val, &err);
      }
      Napi::Value value(Napi::Env env) override {
        return write ? env.Undefined() : Napi::Value(Napi::String::New(env, val));
      }
    };
    auto j = std::make_unique<J>();
    j->ns = NetnsHandle::From(info[0]);
    j->key = info[1].ToString().Utf8Value();
    j->write = info[2].IsString();
    if (j->write) j->val = info[2].As<Napi::String>().Utf8Value();
    return runner.submit(info.Env(), j.release(), Lane::Namespace);
  }

  // peerCred(fd) -> { pid, uid, gid } of a unix socket's far end. A
  // getsockopt never waits, so it runs here, not as a job.
  Napi::Value PeerCred(const Napi::CallbackInfo& info) {
    io::PeerCred c;
    io::SysError err;
    if (!info[0].IsNumber() || !io::peer_cred(info[0].As<Napi::Number>().Int32Value(), &c, &err)) {
      if (!err) err = {EBADF, "peerCred: not an fd"};
      throw from_sys(info.Env(), err);
    }
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("pid", c.pid);
    o.Set("uid", c.uid);
    o.Set("gid", c.gid);
    return o;
  }

  // flock(fd, exclusive) -> 0 or the errno that refused it (never waits)
  Napi::Value Flock(const Napi::CallbackInfo& info) {
    if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "flock: not an fd");
    return Napi::Number::New(info.Env(), -io::try_flock(info[0].As<Napi::Number>().Int32Value(), info[1].ToBoolean().Value()));
  }

  // socketIn(ns, family: 4 | 6, type: 'tcp' | 'udp', address?: string, port?: number) -> Promise<fd>
  // With a port, the socket is bound before it is handed over.
  Napi::Value SocketIn(const Napi::CallbackInfo& info) {
    struct J : Job {
      std::shared_ptr<Namespace> ns;
      int domain = AF_INET, type = SOCK_STREAM, fd = -1, port = -1;
      std::string address;
      ~J() override {
        if (fd >= 0) ::close(fd);  // never handed over
      }
      void run() override {
        fd = ns::socket_in(ns->fd, domain, type, 0, &err);
        if (fd >= 0 && port >= 0 && !io::bind_inet(fd, domain, address, port, &err)) {
          ::close(fd);
          fd = -1;
        }
      }
      Napi::Value value(Napi::Env env) override {
        const int handed = fd;
        fd = -1;
        return Napi::Number::New(env, handed);
      }
    };
    auto j = std::make_unique<J>();
    j->ns = NetnsHandle::From(info[0]);
    j->domain = info[1].ToNumber().Int32Value() == 6 ? AF_INET6 : AF_INET;
    j->type = info[2].ToString().Utf8Value() == "udp" ? SOCK_DGRAM : SOCK_STREAM;
    if (info[3].IsString()) j->address = info[3].As<Napi::String>().Utf8Value();
    if (info[4].IsNumber()) j->port = info[4].As<Napi::Number>().Int32Value();
    return runner.submit(info.Env(), j.release(), Lane::Namespace);
  }

  // listenIn(ns | path, listeners: { family, type, address, port, reuse }[]) -> Promise<fd[]>
  // Server sockets opened inside the namespace in one visit, all or none
  // (see ns::listen_in); stream ones already listening. A path names the
  // namespace without a handle (and the netlink socket one opens inside).
  Napi::Value ListenIn(const Napi::CallbackInfo& info) {
    struct J : Job {
      std::shared_ptr<Namespace> ns;
      std::string path;
      std::vector<ns::Listener> listeners;
      std::vector<int> fds;
      ~J() override {
        for (int fd : fds) ::close(fd);
      }
      void run() override {
        if (ns) {
          ns::listen_in(ns->fd, listeners, &fds, &err);
          return;
        }
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
          io::fail(&err, errno, "open " + path);
          return;
        }
        ns::listen_in(fd, listeners, &fds, &err);
        ::close(fd);
      }
      Napi::Value value(Napi::Env env) override { return hand_over(env, &fds); }
    };
    auto j = std::make_unique<J>();
    if (info[0].IsString()) j->path = info[0].As<Napi::String>().Utf8Value();
    else j->ns = NetnsHandle::From(info[0]);
    j->listeners = to_listeners(info[1]);
    return runner.submit(info.Env(), j.release(), Lane::Namespace);
  }

  // exec(groups: ({ ns, ops: object[] } | { ns, nft: object[] })[]) -> Promise<{ errno, message, offset }[]>
  // Groups run in order, each on its own namespace's socket, in one job (see
  // ops::run_groups). An `nft` group is one nf_tables transaction.
  Napi::Value Exec(const Napi::CallbackInfo& info) {
    struct J : Job {
      std::vector<ops::Group> groups;
      std::vector<io::Reply> replies;
      void run() override { ops::run_groups(groups, &replies, &err); }
      Napi::Value value(Napi::Env env) override { return to_array(env, replies, from_reply); }
    };
    auto j = std::make_unique<J>();
    j->groups = to_groups(info[0]);
    j->quick = ops::is_quick(j->groups);
    const Lane lane = lane_for(j->groups);
    return runner.submit(info.Env(), j.release(), lane);
  }

  // A dump on info[0]'s rtnetlink socket: list(socket, &items, &status, &err)
  // -> Promise<{ errno, message, offset, items }>.
  // `quick`: the dump asks for one object (see Job::quick).
  template <class Info, class List>
  Napi::Value Dump(const Napi::CallbackInfo& info, Napi::Object (*conv)(Napi::Env, const Info&), List list, bool quick = false) {
    struct J : Job {
      J(List l, Napi::Object (*c)(Napi::Env, const Info&)) : list(std::move(l)), conv(c) {}
      List list;
      Napi::Object (*conv)(Napi::Env, const Info&);
      std::shared_ptr<Namespace> ns;
      std::vector<Info> items;
      io::Reply status;
      void run() override {
        ns->with_rtnl([&](io::Socket& s) { return list(s, &items, &status, &err); });
      }
      Napi::Value value(Napi::Env env) override {
        Napi::Object o = from_reply(env, status);
        o.Set("items", to_array(env, items, conv));
        return o;
      }
    };
    auto j = std::make_unique<J>(std::move(list), conv);
    j->ns = NetnsHandle::From(info[0]);
    j->quick = quick;
    return runner.submit(info.Env(), j.release(), Lane::Netlink);
  }

  // links(ns, ifindex: number, name: string); ifindex 0 and name '' list all links.
  Napi::Value Links(const Napi::CallbackInfo& info) {
    using namespace std::placeholders;
    const int32_t ifindex = info[1].ToNumber().Int32Value();
    const std::string name = info[2].ToString().Utf8Value();
    return Dump(info, from_link, std::bind(ops::list_links, _1, ifindex, name, _2, _3, _4), ifindex > 0 || !name.empty());
  }

  // addrs(ns, family: 0 | 4 | 6, ifindex: number)
  Napi::Value Addrs(const Napi::CallbackInfo& info) {
    using namespace std::placeholders;
    return Dump(info, from_addr, std::bind(ops::list_addrs, _1, family_arg(info[1]), info[2].ToNumber().Int32Value(), _2, _3, _4));
  }

  Napi::Value Snapshot(const Napi::CallbackInfo& info) { return snapshot(runner, info); }

  // rules(ns, family: 0 | 4 | 6)
  Napi::Value Rules(const Napi::CallbackInfo& info) {
    using namespace std::placeholders;
    return Dump(info, from_fib_rule, std::bind(ops::list_rules, _1, family_arg(info[1]), _2, _3, _4));
  }

  // routes(ns, family: 0 | 4 | 6, table: number)
  Napi::Value Routes(const Napi::CallbackInfo& info) {
    using namespace std::placeholders;
    return Dump(info, from_route, std::bind(ops::list_routes, _1, family_arg(info[1]), info[2].ToNumber().Uint32Value(), _2, _3, _4));
  }

  // neighs(ns, family: 0 | 4 | 6)
  Napi::Value Neighs(const Napi::CallbackInfo& info) {
    using namespace std::placeholders;
    return Dump(info, from_neigh, std::bind(ops::list_neighs, _1, family_arg(info[1]), _2, _3, _4));
  }

  // fdb(ns): every bridge port's and VXLAN device's forwarding entries
  Napi::Value Fdb(const Napi::CallbackInfo& info) {
    using namespace std::placeholders;
    return Dump(info, from_fdb, std::bind(ops::list_fdb, _1, _2, _3, _4));
  }
};

}  // namespace

Shapes& shapes_of(napi_env env) {
  // Before the addon instance is set (its constructor builds no object): object() builds them.
  static Shapes none;
  Addon* a = Napi::Env(env).GetInstanceData<Addon>();
  return a ? a->shapes : none;
}

}  // namespace nsnet::addon

using NsnetAddon = nsnet::addon::Addon;
NODE_API_ADDON(NsnetAddon)
