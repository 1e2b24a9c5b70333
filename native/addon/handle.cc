#include "handle.h"

namespace nsnet::addon {

thread_local const Namespace* g_creating = nullptr;

Napi::Function NetnsHandle::Define(Napi::Env env) {
  return DefineClass(env, "NetnsHandle",
                     {
                         InstanceMethod<&NetnsHandle::Close>("close"),
                         InstanceAccessor<&NetnsHandle::Fd>("fd"),
                         InstanceAccessor<&NetnsHandle::Id>("id"),
                         InstanceAccessor<&NetnsHandle::Closed>("closed"),
                     });
}

Napi::Object NetnsHandle::New(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<Namespace> ns) {
  Napi::Object o = ctor.New({});
  if (ns->is_ready()) ns->published = true;  // opened, not a pending create
  Unwrap(o)->ns_ = std::move(ns);
  return o;
}

std::shared_ptr<Namespace> NetnsHandle::Get(Napi::Value v) {
  if (!Is(v)) return nullptr;
  NetnsHandle* h = Unwrap(v.As<Napi::Object>());
  return h ? h->ns_ : nullptr;
}

std::shared_ptr<Namespace> NetnsHandle::From(Napi::Value v) {
  Napi::Env env = v.Env();
  if (!Is(v)) NAPI_THROW(Napi::TypeError::New(env, "expected a namespace handle"), nullptr);
  NetnsHandle* h = Unwrap(v.As<Napi::Object>());
  if (!h->ns_) NAPI_THROW(Napi::Error::New(env, "namespace handle is closed"), nullptr);
  if (!h->ns_->published && h->ns_.get() != g_creating) {
    Napi::Error e = Napi::Error::New(env, "namespace not created yet");
    e.Set("errno", Napi::Number::New(env, 9));  // EBADF
    e.Set("syscall", Napi::String::New(env, "namespace not created yet"));
    NAPI_THROW(e, nullptr);
  }
  return h->ns_;
}

NetnsHandle::NetnsHandle(const Napi::CallbackInfo& info) : TaggedWrap<NetnsHandle>(info) {}

Napi::Value NetnsHandle::Close(const Napi::CallbackInfo& info) {
  ns_.reset();
  return info.Env().Undefined();
}

Napi::Value NetnsHandle::Fd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), ns_ && ns_->published ? ns_->fd : -1);
}

// dev:ino identifies a namespace, as `ip netns identify` and nsfs do.
Napi::Value NetnsHandle::Id(const Napi::CallbackInfo& info) {
  if (!ns_ || !ns_->published) return info.Env().Null();
  return Napi::String::New(info.Env(), std::to_string(ns_->dev) + ":" + std::to_string(ns_->ino));
}

Napi::Value NetnsHandle::Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !ns_); }

}  // namespace nsnet::addon
