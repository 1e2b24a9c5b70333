#include "watch.h"

#include <linux/netlink.h>

#include "../ns/ns.h"
#include "convert.h"
#include "handle.h"

namespace nsnet::addon {

namespace {

// Names in the order of the enums' values.
constexpr const char* kKinds[] = {"link", "address", "route", "neighbour", "resync", "synced", "error"};
constexpr const char* kActions[] = {"new", "change", "del"};
constexpr const char* kReasons[] = {"initial", "overflow", "interrupted"};

template <class E>
const char* name_of(const char* const (&names)[3], E e) {
  return names[static_cast<size_t>(e)];
}

Napi::Object to_js(Napi::Env env, const io::Event& e) {
  Napi::Object o = Napi::Object::New(env);
  const char* kind = kKinds[static_cast<size_t>(e.kind)];
  o.Set("kind", kind);
  switch (e.kind) {
    case io::EvKind::Resync: o.Set("reason", name_of(kReasons, e.reason)); return o;
    case io::EvKind::Synced: return o;
    case io::EvKind::Error: o.Set("errno", e.err); return o;
    default: break;
  }
  // A change to an object: the key is its kind ({ kind: 'link', link }).
  o.Set("action", name_of(kActions, e.action));
  switch (e.kind) {
    case io::EvKind::Link: o.Set(kind, from_link(env, std::get<rtnl::LinkInfo>(e.obj))); break;
    case io::EvKind::Addr: o.Set(kind, from_addr(env, std::get<rtnl::AddrInfo>(e.obj))); break;
    case io::EvKind::Route: o.Set(kind, from_route(env, std::get<rtnl::RouteInfo>(e.obj))); break;
    default: o.Set(kind, from_neigh(env, std::get<rtnl::NeighInfo>(e.obj))); break;
  }
  return o;
}

}  // namespace

Watches::Watches(Napi::Env env) : env_(env), wakeup_(env, "nsnet.watch", [this] { drain(); }) {
  ctor_ = Napi::Persistent(Define(env));
}

Watches::~Watches() { shutdown(); }

Napi::Function Watches::Define(Napi::Env env) {
  return WatchHandle::DefineClass(env, "WatchHandle",
                                  {
                                      WatchHandle::InstanceMethod<&WatchHandle::Pull>("pull"),
                                      WatchHandle::InstanceMethod<&WatchHandle::Close>("close"),
                                      WatchHandle::InstanceMethod<&WatchHandle::Ref>("ref"),
                                      WatchHandle::InstanceMethod<&WatchHandle::Unref>("unref"),
                                      WatchHandle::InstanceMethod<&WatchHandle::Stats>("stats"),
                                  });
}

void Watches::shutdown() {
  if (down_) return;
  down_ = true;
  if (hub_) hub_->stop();
  {
    std::lock_guard<std::mutex> lk(mu_);
    ready_.clear();
  }
  wakeup_.close();
  ctor_.Reset();
}

io::Hub& Watches::hub() {
  if (!hub_) {
    // Called on the Hub thread (or the JS thread, from pull): queue the
    // monitor and wake the loop.
    hub_ = std::make_unique<io::Hub>([this](std::shared_ptr<io::Monitor> m) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        ready_.push_back(std::move(m));
      }
      wakeup_.send();
    });
  }
  return *hub_;
}

// One batch per monitor that asked and has events, then back to the loop.
void Watches::drain() {
  std::vector<std::shared_ptr<io::Monitor>> ready;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ready.swap(ready_);
  }
  if (ready.empty() || down_) return;
  Napi::HandleScope scope(env_);
  std::vector<io::Event> evs;
  for (auto& m : ready) {
    auto* h = static_cast<WatchHandle*>(m->user);
    if (!h || h->monitor != m || h->cb.IsEmpty()) continue;  // closed meanwhile
    evs.clear();
    m->take(&evs, h->batch);
    if (evs.empty()) {
      m->want();
      continue;
    }
    const Stopwatch watch;
    Napi::HandleScope inner(env_);
    Napi::Array a = Napi::Array::New(env_, evs.size());
    try {
      for (size_t i = 0; i < evs.size(); i++) a.Set(static_cast<uint32_t>(i), to_js(env_, evs[i]));
    } catch (const Napi::Error& e) {
      // A shape's function threw (see Shapes): the process's to handle, as
      // the callback's own throw below; this batch is not delivered.
      napi_fatal_exception(env_, e.Value());
      continue;
    }
    napi_value argv[] = {a};
    napi_value recv = h->Value();
    napi_value result;
    // make_callback runs the microtasks the callback queued (the awaits of
    // an async iterator) before the next monitor's batch.
    napi_status st = napi_make_callback(env_, wakeup_.context(), recv, h->cb.Value(), 1, argv, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env_, &err);
      napi_fatal_exception(env_, err);
    }
    watch.stop(&deliveries);
  }
}

Napi::Value Watches::open(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
    std::shared_ptr<Watches> w;
    io::MonitorOptions opt;
    size_t batch = 1024;
    Napi::FunctionReference cb;
    std::shared_ptr<io::Monitor> m;
    void run() override {
      // The socket must be created inside the namespace: the namespace thread's job.
      io::Socket* s = ns::netlink_in(ns->fd, NETLINK_ROUTE, &err);
      if (!s) return;
      m = io::Monitor::create(s, opt, &err);
    }
    Napi::Value value(Napi::Env env) override {
      if (w->down_) throw Napi::Error::New(env, "nsnet is shutting down");
      Napi::Object o = w->ctor_.New({});
      WatchHandle* h = WatchHandle::Unwrap(o);
      h->watches = w;
      h->batch = batch;
      h->cb = std::move(cb);
      io::SysError e;
      if (!w->hub().add(m, &e)) throw from_sys(env, e);
      m->user = h;
      h->monitor = std::move(m);
      h->refed = true;
      w->ref(1);
      return o;
    }
  };
  Napi::Env env = info.Env();
  auto ns = NetnsHandle::From(info[0]);
  if (!info[1].IsObject() || !info[2].IsFunction()) NAPI_THROW(Napi::TypeError::New(env, "watchOpen(ns, options, callback)"), Napi::Value());
  Napi::Object o = info[1].As<Napi::Object>();
  std::unique_ptr<J> j(new J);
  j->ns = ns;
  j->w = shared_from_this();
  j->opt.what = o.Get("what").ToNumber().Uint32Value();
  j->opt.rcvbuf = o.Get("rcvbuf").ToNumber().Int32Value();
  j->opt.queue_limit = o.Get("queueLimit").ToNumber().Uint32Value();
  j->opt.list = o.Get("list").ToBoolean().Value();
  j->batch = o.Get("batch").ToNumber().Uint32Value();
  if (j->batch == 0) j->batch = 256;
  if (j->opt.queue_limit < 2) j->opt.queue_limit = 2;
  j->cb = Napi::Persistent(info[2].As<Napi::Function>());
  return runner.submit(env, j.release(), Lane::Namespace);
}

void WatchHandle::close() {
  if (monitor) {
    monitor->user = nullptr;
    if (watches) {
      // Drop it from the delivery list too, so the socket closes now, not at the next delivery.
      std::lock_guard<std::mutex> lk(watches->mu_);
      auto& r = watches->ready_;
      for (size_t i = 0; i < r.size();)
        if (r[i] == monitor) r.erase(r.begin() + static_cast<long>(i));
        else i++;
    }
    if (watches && !watches->down_ && watches->hub_) watches->hub_->remove(monitor);
    monitor.reset();
  }
  if (refed && watches) watches->ref(-1);
  refed = false;
  if (!cb.IsEmpty()) cb.Reset();
}

Napi::Value WatchHandle::Pull(const Napi::CallbackInfo& info) {
  if (monitor && !watches->down_) monitor->want();
  return info.Env().Undefined();
}

Napi::Value WatchHandle::Close(const Napi::CallbackInfo& info) {
  close();
  return info.Env().Undefined();
}

// stats() -> { queued, maxQueued, resyncs, paused }
Napi::Value WatchHandle::Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  io::Monitor::Stats s = monitor ? monitor->stats() : io::Monitor::Stats{};
  o.Set("queued", static_cast<double>(s.queued));
  o.Set("maxQueued", static_cast<double>(s.max_queued));
  o.Set("resyncs", static_cast<double>(s.resyncs));
  o.Set("paused", s.paused);
  return o;
}

Napi::Value WatchHandle::Ref(const Napi::CallbackInfo& info) {
  if (monitor && !refed) {
    refed = true;
    watches->ref(1);
  }
  return info.Env().Undefined();
}

Napi::Value WatchHandle::Unref(const Napi::CallbackInfo& info) {
  if (refed) {
    refed = false;
    watches->ref(-1);
  }
  return info.Env().Undefined();
}

}  // namespace nsnet::addon
