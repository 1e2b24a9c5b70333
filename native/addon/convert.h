// JS values to codec structs and back: rtnetlink in convert.cc, nf_tables
// in nft_convert.cc. The objects mirror src/native-objects.ts, the
// requests src/native.ts; the TS layer validates input first, so a
// TypeError here means a bug in src/.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "../io/socket.h"
#include "../nl/nft.h"
#include "../nl/rtnl.h"
#include "../nl/sockdiag.h"
#include "../ops/group.h"
#include "../ops/nft.h"
#include "handle.h"

namespace nsnet::addon {

// o[k] as a string: "" when undefined or null, a TypeError when not a string.
std::string str(Napi::Object o, const char* k);

// The items of a JS array, each through conv(value): none for undefined or
// null, a TypeError for anything else that is not an array.
template <class Conv>
auto from_array(Napi::Value v, Conv conv) -> std::vector<decltype(conv(v))> {
  std::vector<decltype(conv(v))> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) NAPI_THROW(Napi::TypeError::New(v.Env(), "expected an array"), out);
  Napi::Array a = v.As<Napi::Array>();
  const uint32_t n = a.Length();
  // Not reserve(n): a sparse array's length costs nothing in JS and up to
  // 2^32 - 1 items here, which conv refuses at the first hole anyway.
  for (uint32_t i = 0; i < n; i++) out.push_back(conv(a.Get(i)));
  return out;
}

// An array of conv(env, item), one per item.
template <class T, class Conv>
Napi::Array to_array(Napi::Env env, const std::vector<T>& items, Conv conv) {
  Napi::Array a = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) a.Set(static_cast<uint32_t>(i), conv(env, items[i]));
  return a;
}

// A JS object with these properties, given as key, value, key, value ...
// (a value is anything Napi::Object::Set takes): one call per converted
// struct, so its fields read as the table of what JS sees.
inline void set_props(Napi::Object) {}
template <class V, class... Rest>
void set_props(Napi::Object o, const char* key, const V& value, const Rest&... rest) {
  o.Set(key, value);
  set_props(o, rest...);
}
template <class... KeyValues>
Napi::Object object(Napi::Env env, const KeyValues&... kv) {
  static_assert(sizeof...(kv) % 2 == 0, "keys and values in pairs");
  Napi::Object o = Napi::Object::New(env);
  set_props(o, kv...);
  return o;
}

// Objects the addon hands to JS by the hundred (dumps, events, a batch's
// replies) are built by JS functions registered once (src/native-shapes.ts):
// a function makes each in one step, where setting its properties one N-API
// call at a time (a key string looked up and a map transition each) cost
// ~2 us an object. Until they are registered, for a kind whose function is
// missing, or for shapeKeys, object() builds them, with the same keys in
// the same order.
enum class Shape : uint8_t { Link, Addr, Route, Neigh, Rule, Fdb, Sock, Reply };
inline constexpr const char* kShapeNames[] = {"link", "addr", "route", "neigh", "rule", "fdb", "sock", "reply"};
inline constexpr size_t kShapeCount = sizeof kShapeNames / sizeof kShapeNames[0];
static_assert(kShapeCount == static_cast<size_t>(Shape::Reply) + 1, "a name per shape, in the enum's order");

class Shapes {
 public:
  // fns: { link, addr, ... } as kShapeNames names them; each a function of
  // the fields in order. A kind missing, or not a function, goes back to object().
  void set(Napi::Object fns);
  // The function that builds s, or nullptr: object() builds it.
  napi_value fn(Shape s) const;
  // While set, object() builds every shape (shapeKeys reads their keys so).
  bool plain = false;

 private:
  Napi::FunctionReference fns_[kShapeCount];
};

// The shapes of env's addon instance (addon.cc).
Shapes& shapes_of(napi_env env);

inline void values(Napi::Env, napi_value*) {}
template <class V, class... Rest>
void values(Napi::Env env, napi_value* out, const char*, const V& value, const Rest&... rest) {
  *out = Napi::Value::From(env, value);
  values(env, out + 1, rest...);
}

// object(env, kv...), or s's function called with the values in order.
// What the function throws, or a result that is no object, is thrown here
// as a Napi::Error (every caller converts inside a catch for it).
template <class... KeyValues>
Napi::Object shaped(Napi::Env env, Shape s, const KeyValues&... kv) {
  constexpr size_t n = sizeof...(kv) / 2;
  napi_value f = shapes_of(env).fn(s);
  if (!f) return object(env, kv...);
  napi_value argv[n];
  values(env, argv, kv...);
  napi_value out;
  napi_valuetype type;
  NAPI_THROW_IF_FAILED(env, napi_call_function(env, env.Undefined(), f, n, argv, &out), Napi::Object());
  NAPI_THROW_IF_FAILED(env, napi_typeof(env, out, &type), Napi::Object());
  if (type != napi_object) NAPI_THROW(Napi::TypeError::New(env, std::string("the ") + kShapeNames[static_cast<size_t>(s)] + " shape's function returned no object"), Napi::Object());
  return Napi::Object(env, out);
}

// rtnetlink and sock_diag (convert.cc). JS to C++: the namespaces an op
// names go to refs (NetnsHandle::From makes sure each is created, or is
// the one this job creates first).
ops::Op to_op(Napi::Object o, ops::NsRefs* refs);
// exec's groups (see src/native.ts NativeGroup).
std::vector<ops::Group> to_groups(Napi::Value v);
// C++ to JS.
Napi::Value from_ip(Napi::Env env, const rtnl::IpAddr& a);
Napi::Object from_sock(Napi::Env env, const sockdiag::SockInfo& s);
Napi::Object from_link(Napi::Env env, const rtnl::LinkInfo& l);
Napi::Object from_addr(Napi::Env env, const rtnl::AddrInfo& a);
Napi::Object from_route(Napi::Env env, const rtnl::RouteInfo& r);
Napi::Object from_neigh(Napi::Env env, const rtnl::NeighInfo& n);
Napi::Object from_fib_rule(Napi::Env env, const rtnl::RuleInfo& r);
// A kernel reply; an Error with errno, code and syscall, as Node's own system errors.
Napi::Object from_reply(Napi::Env env, const io::Reply& r);
Napi::Error from_sys(Napi::Env env, const io::SysError& e);
// Bridge FDB entries.
Napi::Object from_fdb(Napi::Env env, const rtnl::FdbInfo& f);
// nf_tables (nft_convert.cc).
ops::NftOp to_nft_op(Napi::Value v);
Napi::Object from_table(Napi::Env env, const nft::Table& t);
Napi::Object from_chain(Napi::Env env, const nft::Chain& c);
Napi::Object from_set(Napi::Env env, const nft::Set& s);
Napi::Object from_elem(Napi::Env env, const nft::Elem& e);
Napi::Object from_rule(Napi::Env env, const nft::Rule& r);

}  // namespace nsnet::addon
