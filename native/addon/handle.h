// The JS face of an open namespace: its fd, identity and netlink socket.
// Jobs share ownership, so close() or GC only frees it once no job uses it.
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "../io/socket.h"
#include "../ns/ns.h"

namespace nsnet::addon {

struct Namespace {
  explicit Namespace(const ns::Opened& o) : fd(o.fd), dev(o.dev), ino(o.ino), rtnl(o.rtnl) {}
  ~Namespace();
  int fd;
  uint64_t dev, ino;
  std::unique_ptr<io::Socket> rtnl;
};

class NetnsHandle : public Napi::ObjectWrap<NetnsHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object New(Napi::Env env, Napi::FunctionReference& ctor, std::shared_ptr<Namespace> ns);
  // The namespace behind a JS value, or a TypeError if it is not an open handle.
  static std::shared_ptr<Namespace> From(Napi::Value v);

  explicit NetnsHandle(const Napi::CallbackInfo& info);

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Fd(const Napi::CallbackInfo& info);
  Napi::Value Id(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);

  std::shared_ptr<Namespace> ns_;
};

}  // namespace nsnet::addon
