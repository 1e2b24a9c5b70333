#include "convert.h"

#include <arpa/inet.h>
#include <string.h>

#include <cstdio>

namespace nsnet::addon {

namespace {

bool has(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  return !v.IsUndefined() && !v.IsNull();
}

int64_t num(Napi::Object o, const char* k, int64_t dflt) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) NAPI_THROW(Napi::TypeError::New(o.Env(), std::string(k) + " must be a number"), dflt);
  return v.As<Napi::Number>().Int64Value();
}

std::string str(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsString()) NAPI_THROW(Napi::TypeError::New(o.Env(), std::string(k) + " must be a string"), {});
  return v.As<Napi::String>().Utf8Value();
}

int8_t tri(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return -1;
  return v.ToBoolean().Value() ? 1 : 0;
}

ops::DevRef dev(Napi::Object o, const char* k) {
  ops::DevRef d;
  Napi::Value v = o.Get(k);
  if (v.IsNumber()) d.index = v.As<Napi::Number>().Int32Value();
  else if (v.IsString()) d.name = v.As<Napi::String>().Utf8Value();
  return d;
}

std::shared_ptr<Namespace> ns_ref(Napi::Object o, const char* k) {
  if (!has(o, k)) return nullptr;
  return NetnsHandle::From(o.Get(k));
}

ops::OpType op_type(Napi::Env env, const std::string& s) {
  if (s == "link.add") return ops::OpType::LinkAdd;
  if (s == "link.set") return ops::OpType::LinkSet;
  if (s == "link.del") return ops::OpType::LinkDel;
  if (s == "addr.add") return ops::OpType::AddrAdd;
  if (s == "addr.del") return ops::OpType::AddrDel;
  if (s == "route.add") return ops::OpType::RouteAdd;
  if (s == "route.replace") return ops::OpType::RouteReplace;
  if (s == "route.del") return ops::OpType::RouteDel;
  NAPI_THROW(Napi::TypeError::New(env, "unknown op " + s), ops::OpType::LinkAdd);
}

}  // namespace

rtnl::IpAddr to_ip(Napi::Value v) {
  rtnl::IpAddr a;
  if (v.IsUndefined() || v.IsNull()) return a;
  const std::string s = v.ToString().Utf8Value();
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) a.family = AF_INET;
  else if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) a.family = AF_INET6;
  else NAPI_THROW(Napi::TypeError::New(v.Env(), "not an IP address: " + s), a);
  return a;
}

rtnl::Mac to_mac(Napi::Value v) {
  rtnl::Mac m;
  if (v.IsUndefined() || v.IsNull()) return m;
  const std::string s = v.ToString().Utf8Value();
  unsigned b[6];
  char tail;
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
    NAPI_THROW(Napi::TypeError::New(v.Env(), "not a MAC address: " + s), m);
  for (int i = 0; i < 6; i++) m.bytes[i] = static_cast<uint8_t>(b[i]);
  m.set = true;
  return m;
}

ops::Op to_op(Napi::Object o, NsRefs* refs) {
  Napi::Env env = o.Env();
  ops::Op op;
  op.type = op_type(env, str(o, "op"));
  op.dev = dev(o, "dev");
  switch (op.type) {
    case ops::OpType::LinkAdd:
    case ops::OpType::LinkSet: {
      rtnl::LinkSpec& l = op.link;
      l.name = str(o, "name");
      l.kind = str(o, "kind");
      l.mtu = num(o, "mtu", -1);
      l.mac = to_mac(o.Get("mac"));
      l.up = tri(o, "up");
      l.txqlen = num(o, "txqlen", -1);
      refs->netns = ns_ref(o, "netns");
      op.master = dev(o, "master");
      op.detach = o.Get("master").IsNull();
      op.lower = dev(o, "link");
      if (has(o, "peer")) {
        Napi::Object p = o.Get("peer").As<Napi::Object>();
        l.peer_name = str(p, "name");
        refs->peer = ns_ref(p, "netns");
        l.peer_mac = to_mac(p.Get("mac"));
        l.peer_mtu = num(p, "mtu", -1);
      }
      l.macvlan_mode = static_cast<uint32_t>(num(o, "mode", 0));
      l.vni = num(o, "vni", -1);
      l.vxlan_remote = to_ip(o.Get("remote"));
      l.vxlan_local = to_ip(o.Get("local"));
      l.vxlan_port = static_cast<int32_t>(num(o, "port", -1));
      l.vxlan_ttl = static_cast<int32_t>(num(o, "ttl", -1));
      l.vxlan_learning = tri(o, "learning");
      l.bridge_stp = tri(o, "stp");
      l.bridge_vlan_filtering = tri(o, "vlanFiltering");
      break;
    }
    case ops::OpType::LinkDel: break;
    case ops::OpType::AddrAdd:
    case ops::OpType::AddrDel: {
      rtnl::AddrSpec& a = op.addr;
      a.local = to_ip(o.Get("address"));
      a.prefixlen = static_cast<uint8_t>(num(o, "prefixlen", a.local.family == AF_INET6 ? 128 : 32));
      a.peer = to_ip(o.Get("peer"));
      a.broadcast = !o.Get("broadcast").IsBoolean() || o.Get("broadcast").ToBoolean().Value();
      a.scope = static_cast<int16_t>(num(o, "scope", -1));
      a.flags = static_cast<uint32_t>(num(o, "flags", 0));
      a.label = str(o, "label");
      break;
    }
    default: {
      rtnl::RouteSpec& r = op.route;
      r.family = static_cast<uint8_t>(num(o, "family", AF_INET));
      r.dst = to_ip(o.Get("dst"));
      r.dst_len = static_cast<uint8_t>(num(o, "dstLen", 0));
      r.gateway = to_ip(o.Get("gateway"));
      r.prefsrc = to_ip(o.Get("prefsrc"));
      r.table = static_cast<uint32_t>(num(o, "table", 254));
      r.metric = num(o, "metric", -1);
      r.scope = static_cast<int16_t>(num(o, "scope", -1));
      r.protocol = static_cast<uint8_t>(num(o, "protocol", 3));
      r.type = static_cast<uint8_t>(num(o, "type", 1));
      r.onlink = tri(o, "onlink") == 1;
      r.mtu = num(o, "mtu", -1);
      break;
    }
  }
  return op;
}

Napi::Value from_ip(Napi::Env env, const rtnl::IpAddr& a) {
  if (!a) return env.Null();
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.family, a.bytes, buf, sizeof buf);
  return Napi::String::New(env, buf);
}

namespace {

Napi::Value from_mac(Napi::Env env, const rtnl::Mac& m) {
  if (!m.set) return env.Null();
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.bytes[0], m.bytes[1], m.bytes[2], m.bytes[3],
                m.bytes[4], m.bytes[5]);
  return Napi::String::New(env, buf);
}

}  // namespace

Napi::Object from_link(Napi::Env env, const rtnl::LinkInfo& l) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", l.ifindex);
  o.Set("name", l.name);
  o.Set("kind", l.kind);
  o.Set("flags", l.flags);
  o.Set("mtu", l.mtu);
  o.Set("mac", from_mac(env, l.mac));
  o.Set("master", l.master);
  o.Set("link", l.link);
  o.Set("linkNetnsid", l.has_link_netnsid ? Napi::Value(Napi::Number::New(env, l.link_netnsid)) : env.Null());
  o.Set("operstate", l.operstate);
  o.Set("txqlen", l.txqlen);
  o.Set("slaveKind", l.slave_kind);
  return o;
}

Napi::Object from_addr(Napi::Env env, const rtnl::AddrInfo& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", a.family == AF_INET6 ? 6 : 4);
  o.Set("ifindex", a.ifindex);
  o.Set("address", from_ip(env, a.local));
  o.Set("peer", from_ip(env, a.address));
  o.Set("prefixlen", a.prefixlen);
  o.Set("scope", a.scope);
  o.Set("flags", a.flags);
  o.Set("broadcast", from_ip(env, a.broadcast));
  o.Set("label", a.label);
  o.Set("validLft", a.valid_lft);
  o.Set("preferredLft", a.preferred_lft);
  return o;
}

Napi::Object from_route(Napi::Env env, const rtnl::RouteInfo& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", r.family == AF_INET6 ? 6 : 4);
  o.Set("dst", from_ip(env, r.dst));
  o.Set("dstLen", r.dst_len);
  o.Set("gateway", from_ip(env, r.gateway));
  o.Set("prefsrc", from_ip(env, r.prefsrc));
  o.Set("oif", r.oif);
  o.Set("table", r.table);
  o.Set("metric", r.has_metric ? Napi::Value(Napi::Number::New(env, r.metric)) : env.Null());
  o.Set("scope", r.scope);
  o.Set("protocol", r.protocol);
  o.Set("type", r.type);
  o.Set("flags", r.flags);
  o.Set("mtu", r.mtu);
  return o;
}

Napi::Object from_reply(Napi::Env env, const io::Reply& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", -r.error);
  o.Set("message", r.message);
  o.Set("offset", r.has_offset ? Napi::Value(Napi::Number::New(env, r.offset)) : env.Null());
  return o;
}

Napi::Error from_sys(Napi::Env env, const io::SysError& e) {
  char buf[128];
  const char* msg = strerror_r(e.err, buf, sizeof buf);
  Napi::Error err = Napi::Error::New(env, e.what + ": " + msg);
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("syscall", Napi::String::New(env, e.what));
  return err;
}

}  // namespace nsnet::addon

namespace nsnet::addon {

bool bind_refs(ops::Op& op, const NsRefs& refs) {
  if (refs.netns) {
    if (!refs.netns->is_ready()) return false;
    op.link.netns_fd = refs.netns->fd;
  }
  if (refs.peer) {
    if (!refs.peer->is_ready()) return false;
    op.link.peer_netns_fd = refs.peer->fd;
  }
  return true;
}

}  // namespace nsnet::addon
