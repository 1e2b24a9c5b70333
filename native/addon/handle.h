// The JS face of an open namespace: its fd, identity and netlink socket.
// Jobs share ownership, so close() or GC only frees it once no job uses it.
#pragma once

#include <napi.h>

#include <memory>
#include <string>

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

// A wrapped class whose instances carry a type tag that is checked before
// any unwrap. napi_unwrap alone returns whatever native object a JS object
// wraps, so without the tag a WatchHandle passed where a namespace handle is
// expected, or a method called on another class's object, would be read as
// the wrong class.
template <class T>
class TaggedWrap : public Napi::ObjectWrap<T> {
 public:
  explicit TaggedWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {
    info.This().As<Napi::Object>().TypeTag(&T::kTag);
  }
  // Whether v is an instance of T.
  static bool Is(Napi::Value v) { return v.IsObject() && v.As<Napi::Object>().CheckTypeTag(&T::kTag); }
  // Hides ObjectWrap::Unwrap: node-addon-api's method and getter wrappers
  // call T::Unwrap on `this`, so a method called on another object throws.
  static T* Unwrap(Napi::Object o) {
    if (!Is(o)) NAPI_THROW(Napi::TypeError::New(o.Env(), std::string("not a ") + T::kName), nullptr);
    return Napi::ObjectWrap<T>::Unwrap(o);
  }
};

class NetnsHandle : public TaggedWrap<NetnsHandle> {
 public:
  static constexpr napi_type_tag kTag = {0x6e736e6574686e64ull, 0x9b1d3c5e7a2f4c81ull};
  static constexpr const char* kName = "namespace handle";

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
