// The JS face of an open namespace: its fd, identity and netlink socket.
// Jobs share ownership, so close() or GC only frees it once no job uses it.
#pragma once

#include <napi.h>

#include <memory>

#include "../ns/namespace.h"

namespace nsnet::addon {

// A namespace as the addon shares it between JS handles and jobs.
struct Namespace : ns::Namespace {
  // Usable by any job. Set on the JS thread only: at open, or when a create
  // succeeds. Until then only the create's own batch may name it, so a
  // rollback never races another job.
  bool published = false;
};

// JS thread only: while a create converts its batch, the namespace it
// creates, which that batch (and only it) may name before it exists.
extern thread_local const Namespace* g_creating;

class Creating {
 public:
  explicit Creating(const Namespace* ns) { g_creating = ns; }
  ~Creating() { g_creating = nullptr; }
  Creating(const Creating&) = delete;
  Creating& operator=(const Creating&) = delete;
};

class NetnsHandle : public Napi::ObjectWrap<NetnsHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object New(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<Namespace> ns);
  // The namespace behind a JS value, or a TypeError if it is not an open
  // handle, or an Error if it is not created yet (see Namespace::published).
  static std::shared_ptr<Namespace> From(Napi::Value v);
  // The namespace behind a handle, or null (closed, or not a handle).
  static std::shared_ptr<Namespace> Get(Napi::Value v);

  explicit NetnsHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Id(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);

  std::shared_ptr<Namespace> ns_;
};

}  // namespace nsnet::addon
