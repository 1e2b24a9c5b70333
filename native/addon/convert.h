// JS values to codec structs and back: rtnetlink in convert.cc, nf_tables
// in nft_convert.cc. Shapes mirror src/native.ts; the TS layer validates
// input first, so a TypeError here means a bug in src/.
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
