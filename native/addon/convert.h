// JS values to codec structs and back. Shapes mirror src/native.ts; the TS
// layer validates input first, so a TypeError here means a bug in src/.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "../io/socket.h"
#include "../nl/rtnl.h"
#include "../ops/group.h"
#include "handle.h"

namespace nsnet::addon {

// The namespaces the op names go to refs (NetnsHandle::From makes sure each
// is created, or is the one this job creates first).
ops::Op to_op(Napi::Object o, ops::NsRefs* refs);

rtnl::IpAddr to_ip(Napi::Value v);
rtnl::Mac to_mac(Napi::Value v);

Napi::Value from_ip(Napi::Env env, const rtnl::IpAddr& a);
Napi::Object from_link(Napi::Env env, const rtnl::LinkInfo& l);
Napi::Object from_addr(Napi::Env env, const rtnl::AddrInfo& a);
Napi::Object from_route(Napi::Env env, const rtnl::RouteInfo& r);
Napi::Object from_neigh(Napi::Env env, const rtnl::NeighInfo& n);
Napi::Value from_mac(Napi::Env env, const rtnl::Mac& m);
Napi::Object from_reply(Napi::Env env, const io::Reply& r);
// An Error with errno, code and syscall, as Node's own system errors.
Napi::Error from_sys(Napi::Env env, const io::SysError& e);

}  // namespace nsnet::addon
