#include "convert.h"

#include <arpa/inet.h>

#include <cstdio>
#include <utility>

namespace nsnet::addon {

namespace {

int64_t as_num(Napi::Value v, const std::string& k) {
  if (!v.IsNumber()) NAPI_THROW(Napi::TypeError::New(v.Env(), k + " must be a number"), 0);
  return v.As<Napi::Number>().Int64Value();
}

std::string as_str(Napi::Value v, const std::string& k) {
  if (!v.IsString()) NAPI_THROW(Napi::TypeError::New(v.Env(), k + " must be a string"), {});
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace

std::string str(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsUndefined() || v.IsNull() ? std::string() : as_str(v, k);
}

namespace {

ops::OpType op_type(Napi::Env env, const std::string& s) {
  using T = ops::OpType;
  static const std::pair<const char*, T> kOps[] = {
      {"link.add", T::LinkAdd},           {"link.set", T::LinkSet},         {"link.del", T::LinkDel},
      {"addr.add", T::AddrAdd},           {"addr.del", T::AddrDel},         {"route.add", T::RouteAdd},
      {"route.replace", T::RouteReplace}, {"route.del", T::RouteDel},       {"raw", T::Raw},
      {"neigh.add", T::NeighAdd},         {"neigh.replace", T::NeighReplace}, {"neigh.append", T::NeighAppend},
      {"neigh.del", T::NeighDel},         {"addr.settle", T::AddrSettle}};
  for (const auto& [name, type] : kOps)
    if (s == name) return type;
  NAPI_THROW(Napi::TypeError::New(env, "unknown op " + s), ops::OpType::LinkAdd);
}

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

// Calls f(key, value) for each own property that is set. Ops carry a handful
// of the many fields they could, so reading only the present ones keeps the
// conversion (on the JS thread) short.
template <class F>
void each(Napi::Object o, F f) {
  // Own string keys only: GetPropertyNames would walk the prototype chain
  // too, as for..in does.
  napi_env env = o.Env();
  napi_value names;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_all_property_names(env, o, napi_key_own_only, static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols), napi_key_numbers_to_strings, &names));
  Napi::Array keys(env, names);
  const uint32_t n = keys.Length();
  char buf[32];
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value k = keys.Get(i);
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) continue;
    size_t len = 0;
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_value_string_utf8(env, k, buf, sizeof buf, &len));
    f(len < sizeof buf - 1 ? std::string(buf, len) : k.As<Napi::String>().Utf8Value(), v);
  }
}

int8_t as_tri(Napi::Value v) { return v.IsNull() ? -1 : v.ToBoolean().Value() ? 1 : 0; }

ops::DevRef as_dev(Napi::Value v) {
  ops::DevRef d;
  if (v.IsNumber()) d.index = v.As<Napi::Number>().Int32Value();
  else if (v.IsString()) d.name = v.As<Napi::String>().Utf8Value();
  return d;
}

void link_field(ops::Op& op, ops::NsRefs* refs, const std::string& k, Napi::Value v) {
  rtnl::LinkSpec& l = op.link;
  if (k == "name") l.name = as_str(v, k);
  else if (k == "kind") l.kind = as_str(v, k);
  else if (k == "mtu") l.mtu = as_num(v, k);
  else if (k == "mac") l.mac = to_mac(v);
  else if (k == "up") l.up = as_tri(v);
  else if (k == "txqlen") l.txqlen = as_num(v, k);
  else if (k == "group") l.group = as_num(v, k);
  else if (k == "flags" && v.IsObject()) {
    l.flags_mask = static_cast<uint32_t>(as_num(v.As<Napi::Object>().Get("mask"), "flags.mask"));
    l.flags = static_cast<uint32_t>(as_num(v.As<Napi::Object>().Get("value"), "flags.value"));
  }
  else if (k == "netns") refs->netns = NetnsHandle::From(v);
  else if (k == "master") v.IsNull() ? void(op.detach = true) : void(op.master = as_dev(v));
  else if (k == "link") op.lower = as_dev(v);
  else if (k == "mode") l.macvlan_mode = static_cast<uint32_t>(as_num(v, k));
  else if (k == "vni") l.vni = as_num(v, k);
  else if (k == "remote") l.vxlan_remote = to_ip(v);
  else if (k == "local") l.vxlan_local = to_ip(v);
  else if (k == "port") l.vxlan_port = static_cast<int32_t>(as_num(v, k));
  else if (k == "ttl") l.vxlan_ttl = static_cast<int32_t>(as_num(v, k));
  else if (k == "learning") l.vxlan_learning = as_tri(v);
  else if (k == "proxy") l.vxlan_proxy = as_tri(v);
  else if (k == "stp") l.bridge_stp = as_tri(v);
  else if (k == "vlanFiltering") l.bridge_vlan_filtering = as_tri(v);
  else if (k == "hairpin") l.brport_hairpin = as_tri(v);
  else if (k == "fdbFlush") l.brport_flush = as_tri(v) == 1;
  else if (k == "addrGenMode") l.inet6_addr_gen_mode = static_cast<int8_t>(as_num(v, k));
  else if (k == "ipv4Conf") {
    // [[IPV4_DEVCONF_* index, value], ...]
    l.inet_conf = from_array(v, [&](Napi::Value pair) {
      Napi::Array a = pair.As<Napi::Array>();
      return std::pair<uint16_t, uint32_t>(static_cast<uint16_t>(as_num(a.Get(0u), k)), static_cast<uint32_t>(as_num(a.Get(1u), k)));
    });
  }
  else if (k == "alias") {
    l.has_alias = true;
    l.alias = as_str(v, k);
  }
  else if (k == "peer" && v.IsObject()) {
    each(v.As<Napi::Object>(), [&](const std::string& pk, Napi::Value pv) {
      if (pk == "name") l.peer_name = as_str(pv, pk);
      else if (pk == "netns") refs->peer = NetnsHandle::From(pv);
      else if (pk == "mac") l.peer_mac = to_mac(pv);
      else if (pk == "mtu") l.peer_mtu = as_num(pv, pk);
    });
  }
}

void addr_field(ops::Op& op, const std::string& k, Napi::Value v, bool* has_prefix) {
  rtnl::AddrSpec& a = op.addr;
  if (k == "address") a.local = to_ip(v);
  else if (k == "prefixlen") a.prefixlen = static_cast<uint8_t>(as_num(v, k)), *has_prefix = true;
  else if (k == "peer") a.peer = to_ip(v);
  else if (k == "broadcast") a.broadcast = v.ToBoolean().Value();
  else if (k == "scope") a.scope = static_cast<int16_t>(as_num(v, k));
  else if (k == "flags") a.flags = static_cast<uint32_t>(as_num(v, k));
  else if (k == "label") a.label = as_str(v, k);
}

void neigh_field(ops::Op& op, const std::string& k, Napi::Value v) {
  rtnl::NeighSpec& n = op.neigh;
  if (k == "dst") n.dst = to_ip(v);
  else if (k == "lladdr") n.lladdr = to_mac(v);
  else if (k == "state") n.state = static_cast<uint16_t>(as_num(v, k));
  else if (k == "flags") n.flags = static_cast<uint8_t>(as_num(v, k));
  else if (k == "family") n.family = static_cast<uint8_t>(as_num(v, k));
  else if (k == "vni") n.vni = static_cast<int64_t>(as_num(v, k));
}

void route_field(ops::Op& op, const std::string& k, Napi::Value v) {
  rtnl::RouteSpec& r = op.route;
  if (k == "family") r.family = static_cast<uint8_t>(as_num(v, k));
  else if (k == "dst") r.dst = to_ip(v);
  else if (k == "dstLen") r.dst_len = static_cast<uint8_t>(as_num(v, k));
  else if (k == "src") r.src = to_ip(v);
  else if (k == "srcLen") r.src_len = static_cast<uint8_t>(as_num(v, k));
  else if (k == "gateway") r.gateway = to_ip(v);
  else if (k == "prefsrc") r.prefsrc = to_ip(v);
  else if (k == "table") r.table = static_cast<uint32_t>(as_num(v, k));
  else if (k == "metric") r.metric = as_num(v, k);
  else if (k == "scope") r.scope = static_cast<int16_t>(as_num(v, k));
  else if (k == "protocol") r.protocol = static_cast<uint8_t>(as_num(v, k));
  else if (k == "type") r.type = static_cast<uint8_t>(as_num(v, k));
  else if (k == "onlink") r.onlink = as_tri(v) == 1;
  else if (k == "mtu") r.mtu = as_num(v, k);
}

void raw_field(ops::Op& op, const std::string& k, Napi::Value v) {
  if (k == "type") op.raw_type = static_cast<uint16_t>(as_num(v, k));
  else if (k == "flags") op.raw_flags = static_cast<uint16_t>(as_num(v, k));
  else if (k == "body" && v.IsBuffer()) {
    auto buf = v.As<Napi::Buffer<uint8_t>>();
    op.raw.assign(buf.Data(), buf.Data() + buf.Length());
  }
}

}  // namespace

ops::Op to_op(Napi::Object o, ops::NsRefs* refs) {
  Napi::Env env = o.Env();
  ops::Op op;
  op.type = op_type(env, str(o, "op"));
  bool has_prefix = false;
  each(o, [&](const std::string& k, Napi::Value v) {
    if (k == "op") return;
    if (k == "dev") {
      op.dev = as_dev(v);
      return;
    }
    switch (op.type) {
      case ops::OpType::LinkAdd:
      case ops::OpType::LinkSet: link_field(op, refs, k, v); break;
      case ops::OpType::LinkDel: break;
      case ops::OpType::AddrAdd:
      case ops::OpType::AddrDel:
      case ops::OpType::AddrSettle: addr_field(op, k, v, &has_prefix); break;
      case ops::OpType::Raw: raw_field(op, k, v); break;
      case ops::OpType::NeighAdd:
      case ops::OpType::NeighReplace:
      case ops::OpType::NeighAppend:
      case ops::OpType::NeighDel: neigh_field(op, k, v); break;
      default: route_field(op, k, v); break;
    }
  });
  if ((op.type == ops::OpType::AddrAdd || op.type == ops::OpType::AddrDel) && !has_prefix)
    op.addr.prefixlen = op.addr.local.family == AF_INET6 ? 128 : 32;
  return op;
}

void Shapes::set(Napi::Object fns) {
  for (size_t i = 0; i < kShapeCount; i++) {
    Napi::Value f = fns.Get(kShapeNames[i]);
    fns_[i] = f.IsFunction() ? Napi::Persistent(f.As<Napi::Function>()) : Napi::FunctionReference();
  }
}

napi_value Shapes::fn(Shape s) const {
  const Napi::FunctionReference& f = fns_[static_cast<size_t>(s)];
  return plain || f.IsEmpty() ? nullptr : static_cast<napi_value>(f.Value());
}

Napi::Value from_ip(Napi::Env env, const rtnl::IpAddr& a) {
  if (!a) return env.Null();
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(a.family, a.bytes, buf, sizeof buf);
  return Napi::String::New(env, buf);
}

Napi::Object from_sock(Napi::Env env, const sockdiag::SockInfo& s) {
  return shaped(env, Shape::Sock, "family", s.family, "protocol", s.protocol, "type", s.type, "state", s.state, "inode", s.inode,
                "uid", s.uid, "src", from_ip(env, s.src), "dst", from_ip(env, s.dst), "sport", s.sport,
                "dport", s.dport, "portid", s.portid, "ethertype", s.ethertype, "name", s.name);
}

namespace {

// An address family as JS names it: 4 or 6.
int version(uint8_t family) { return family == AF_INET6 ? 6 : 4; }

// n, or null when the kernel did not say.
template <class N>
Napi::Value or_null(Napi::Env env, bool has, N n) {
  return has ? Napi::Value(Napi::Number::New(env, static_cast<double>(n))) : env.Null();
}

Napi::Value from_mac(Napi::Env env, const rtnl::Mac& m) {
  if (!m.set) return env.Null();
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", m.bytes[0], m.bytes[1], m.bytes[2], m.bytes[3],
                m.bytes[4], m.bytes[5]);
  return Napi::String::New(env, buf);
}

}  // namespace

Napi::Object from_link(Napi::Env env, const rtnl::LinkInfo& l) {
  return shaped(env, Shape::Link, "ifindex", l.ifindex, "name", l.name, "kind", l.kind, "flags", l.flags, "mtu", l.mtu,
                "mac", from_mac(env, l.mac), "master", l.master, "link", l.link,
                "linkNetnsid", or_null(env, l.has_link_netnsid, l.link_netnsid), "operstate", l.operstate,
                "txqlen", l.txqlen, "group", l.group, "slaveKind", l.slave_kind, "alias", l.alias);
}

Napi::Object from_fib_rule(Napi::Env env, const rtnl::RuleInfo& r) {
  return shaped(env, Shape::Rule, "family", r.family == AF_INET6 ? 6 : r.family == AF_INET ? 4 : r.family, "priority", r.priority,
                "table", r.table, "action", r.action,
                "body", Napi::Buffer<uint8_t>::Copy(env, r.body.data(), r.body.size()));
}

Napi::Object from_addr(Napi::Env env, const rtnl::AddrInfo& a) {
  return shaped(env, Shape::Addr, "family", version(a.family), "ifindex", a.ifindex, "address", from_ip(env, a.local),
                "peer", from_ip(env, a.address), "prefixlen", a.prefixlen, "scope", a.scope, "flags", a.flags,
                "broadcast", from_ip(env, a.broadcast), "label", a.label,
                "validLft", a.valid_lft, "preferredLft", a.preferred_lft);
}

// Bytes as lowercase hex, or null for none.
Napi::Value hex_or_null(Napi::Env env, const std::string& bytes) {
  if (bytes.empty()) return env.Null();
  static const char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); i++) {
    const auto c = static_cast<uint8_t>(bytes[i]);
    out[2 * i] = digits[c >> 4];
    out[2 * i + 1] = digits[c & 15];
  }
  return Napi::String::New(env, out);
}

Napi::Object from_route(Napi::Env env, const rtnl::RouteInfo& r) {
  return shaped(env, Shape::Route, "family", version(r.family), "dst", from_ip(env, r.dst), "dstLen", r.dst_len,
                "gateway", from_ip(env, r.gateway), "prefsrc", from_ip(env, r.prefsrc), "oif", r.oif,
                "table", r.table, "metric", or_null(env, r.has_metric, r.metric), "scope", r.scope,
                "protocol", r.protocol, "type", r.type, "flags", r.flags, "mtu", r.mtu,
                "src", from_ip(env, r.src), "srcLen", r.src_len, "metrics", hex_or_null(env, r.metrics),
                "pref", or_null(env, r.pref >= 0, r.pref));
}

Napi::Object from_neigh(Napi::Env env, const rtnl::NeighInfo& n) {
  return shaped(env, Shape::Neigh, "family", version(n.family), "ifindex", n.ifindex, "dst", from_ip(env, n.dst),
                "lladdr", from_mac(env, n.lladdr), "state", n.state, "flags", n.flags, "type", n.type);
}

Napi::Object from_fdb(Napi::Env env, const rtnl::FdbInfo& f) {
  return shaped(env, Shape::Fdb, "ifindex", f.ifindex, "lladdr", from_mac(env, f.lladdr),
                "dst", f.dst ? from_ip(env, f.dst) : env.Null(), "state", f.state, "flags", f.flags,
                "master", f.master, "vni", or_null(env, f.vni >= 0, f.vni), "vlan", or_null(env, f.vlan >= 0, f.vlan));
}

Napi::Object from_reply(Napi::Env env, const io::Reply& r) {
  return shaped(env, Shape::Reply, "errno", -r.error, "message", r.message, "offset", or_null(env, r.has_offset, r.offset));
}

Napi::Error from_sys(Napi::Env env, const io::SysError& e) {
  char buf[128];
  Napi::Error err = Napi::Error::New(env, e.what + ": " + io::errno_text(e.err, buf, sizeof buf));
  err.Set("errno", Napi::Number::New(env, e.err));
  err.Set("syscall", Napi::String::New(env, e.what));
  return err;
}

// { ns, ops } | { ns, nft } | { ns, sysctl } groups, as exec takes them.
std::vector<ops::Group> to_groups(Napi::Value v) {
  return from_array(v, [](Napi::Value g) {
    Napi::Object o = g.As<Napi::Object>();
    ops::Group grp;
    grp.ns = NetnsHandle::From(o.Get("ns"));
    grp.is_nft = o.Get("nft").IsArray();
    grp.is_sysctl = o.Get("sysctl").IsArray();
    if (grp.is_sysctl) {
      grp.sysctl = from_array(o.Get("sysctl"), [](Napi::Value kv) {
        Napi::Array a = kv.As<Napi::Array>();
        return std::pair<std::string, std::string>(a.Get(0u).ToString().Utf8Value(), a.Get(1u).ToString().Utf8Value());
      });
    } else if (grp.is_nft) {
      grp.nft = from_array(o.Get("nft"), to_nft_op);
    } else {
      grp.list = from_array(o.Get("ops"), [&](Napi::Value op) {
        grp.refs.emplace_back();
        return to_op(op.As<Napi::Object>(), &grp.refs.back());
      });
    }
    return grp;
  });
}

}  // namespace nsnet::addon
