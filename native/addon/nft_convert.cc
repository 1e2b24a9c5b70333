#include "convert.h"

#include <utility>

namespace nsnet::addon {

namespace {

uint32_t u32(Napi::Object o, const char* k, uint32_t dflt = 0) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

int64_t i64(Napi::Object o, const char* k, int64_t dflt) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : dflt;
}

std::vector<uint8_t> bytes(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  if (!v.IsBuffer()) return {};
  auto b = v.As<Napi::Buffer<uint8_t>>();
  return std::vector<uint8_t>(b.Data(), b.Data() + b.Length());
}

bool has(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  return !v.IsUndefined() && !v.IsNull();
}

// A value (`data`: Buffer) or a verdict (`verdict`: { code, chain? }).
nft::Data to_data(Napi::Object o) {
  nft::Data d;
  if (has(o, "verdict")) {
    Napi::Object v = o.Get("verdict").As<Napi::Object>();
    d.is_verdict = true;
    d.verdict.code = static_cast<int32_t>(i64(v, "code", 0));
    d.verdict.chain = str(v, "chain");
  } else {
    d.value = bytes(o, "data");
  }
  return d;
}

nft::ExprKind expr_kind(Napi::Env env, const std::string& s) {
  nft::ExprKind k = nft::ExprKind::Counter;
  if (!nft::expr_kind(s, &k)) NAPI_THROW(Napi::TypeError::New(env, "unknown expression " + s), k);
  return k;
}

nft::Expr to_expr(Napi::Object o) {
  nft::Expr e;
  e.kind = expr_kind(o.Env(), str(o, "expr"));
  e.dreg = u32(o, "dreg");
  e.sreg = u32(o, "sreg");
  e.key = u32(o, "key");
  e.direction = static_cast<int32_t>(i64(o, "dir", -1));
  e.base = u32(o, "base");
  e.offset = u32(o, "offset");
  e.len = u32(o, "len");
  e.op = u32(o, "op");
  e.data = to_data(o);
  e.mask = bytes(o, "mask");
  e.xor_ = bytes(o, "xor");
  e.set = str(o, "set");
  e.set_id = u32(o, "setId");
  e.flags = u32(o, "flags");
  e.nat_type = u32(o, "natType");
  e.family = u32(o, "family");
  e.reg_addr_min = u32(o, "regAddrMin");
  e.reg_addr_max = u32(o, "regAddrMax");
  e.reg_proto_min = u32(o, "regProtoMin");
  e.reg_proto_max = u32(o, "regProtoMax");
  e.result = u32(o, "result");
  return e;
}

Napi::Value from_bytes(Napi::Env env, const std::vector<uint8_t>& v) {
  return Napi::Buffer<uint8_t>::Copy(env, v.data(), v.size());
}

void set_data(Napi::Object o, const nft::Data& d) {
  Napi::Env env = o.Env();
  if (d.is_verdict) {
    Napi::Object v = Napi::Object::New(env);
    v.Set("code", d.verdict.code);
    if (!d.verdict.chain.empty()) v.Set("chain", d.verdict.chain);
    o.Set("verdict", v);
  } else {
    o.Set("data", from_bytes(env, d.value));
  }
}

// Where an object (T) is: its family and table.
template <class T>
T& in_table(Napi::Object o, uint8_t family, T& x) {
  x.family = family;
  x.table = str(o, "table");
  return x;
}

// What names a chain or a set (T): where it is, its name and handle.
template <class T>
T& name_from(Napi::Object o, uint8_t family, uint64_t handle, T& x) {
  in_table(o, family, x);
  x.name = str(o, "name");
  x.handle = handle;
  return x;
}

template <class T>
Napi::Object named(Napi::Env env, const T& x) {
  return object(env, "family", x.family, "table", x.table, "name", x.name, "handle", static_cast<double>(x.handle));
}

}  // namespace

ops::NftOp to_nft_op(Napi::Value v) {
  Napi::Object o = v.As<Napi::Object>();
  Napi::Env env = o.Env();
  ops::NftOp op;
  const std::string obj = str(o, "obj"), verb = str(o, "verb");
  if (verb == "add") op.verb = ops::NftVerb::Add;
  else if (verb == "create") op.verb = ops::NftVerb::Create;
  else if (verb == "del") op.verb = ops::NftVerb::Del;
  else if (verb == "destroy") op.verb = ops::NftVerb::Destroy;
  else NAPI_THROW(Napi::TypeError::New(env, "unknown verb " + verb), op);
  const uint8_t family = static_cast<uint8_t>(u32(o, "family"));
  const uint64_t handle = static_cast<uint64_t>(i64(o, "handle", 0));
  if (obj == "table") {
    op.obj = ops::NftObj::Table;
    op.table.family = family;
    op.table.name = str(o, "table");
    op.table.handle = handle;
    op.table.flags = u32(o, "flags");
  } else if (obj == "chain") {
    op.obj = ops::NftObj::Chain;
    nft::Chain& c = name_from(o, family, handle, op.chain);
    c.base = has(o, "hook");
    c.hooknum = u32(o, "hook");
    c.priority = static_cast<int32_t>(i64(o, "priority", 0));
    c.type = str(o, "type");
    c.policy = static_cast<int32_t>(i64(o, "policy", -1));
  } else if (obj == "set") {
    op.obj = ops::NftObj::Set;
    nft::Set& s = name_from(o, family, handle, op.set);
    s.flags = u32(o, "flags");
    s.key_type = u32(o, "keyType");
    s.key_len = u32(o, "keyLen");
    s.has_data = has(o, "dataType");
    s.data_type = u32(o, "dataType");
    s.data_len = u32(o, "dataLen");
    s.id = u32(o, "id");
    s.userdata = bytes(o, "userdata");
    s.field_len = from_array(o.Get("fieldLen"), [](Napi::Value n) { return n.As<Napi::Number>().Uint32Value(); });
  } else if (obj == "elems") {
    op.obj = ops::NftObj::Elems;
    nft::ElemList& l = in_table(o, family, op.elems);
    l.set = str(o, "set");
    l.set_id = u32(o, "setId");
    l.elems = from_array(o.Get("elems"), [](Napi::Value v) {
      Napi::Object eo = v.As<Napi::Object>();
      nft::Elem e;
      e.key = bytes(eo, "key");
      e.key_end = bytes(eo, "keyEnd");
      e.flags = u32(eo, "flags");
      e.userdata = bytes(eo, "userdata");
      e.has_data = has(eo, "data") || has(eo, "verdict");
      if (e.has_data) e.data = to_data(eo);
      return e;
    });
  } else if (obj == "rule") {
    op.obj = ops::NftObj::Rule;
    nft::Rule& r = in_table(o, family, op.rule);
    r.chain = str(o, "chain");
    r.handle = handle;
    r.position = static_cast<uint64_t>(i64(o, "position", 0));
    r.userdata = bytes(o, "userdata");
    r.exprs = from_array(o.Get("exprs"), [](Napi::Value v) { return to_expr(v.As<Napi::Object>()); });
  } else {
    NAPI_THROW(Napi::TypeError::New(env, "unknown nf_tables object " + obj), op);
  }
  return op;
}

Napi::Object from_table(Napi::Env env, const nft::Table& t) {
  return object(env, "family", t.family, "name", t.name, "flags", t.flags, "handle", static_cast<double>(t.handle),
                "use", t.use);
}

Napi::Object from_chain(Napi::Env env, const nft::Chain& c) {
  Napi::Object o = named(env, c);
  if (c.base) {
    o.Set("hook", c.hooknum);
    o.Set("priority", c.priority);
    o.Set("type", c.type);
  }
  if (c.policy >= 0) o.Set("policy", c.policy);
  o.Set("use", c.use);
  return o;
}

Napi::Object from_set(Napi::Env env, const nft::Set& s) {
  Napi::Object o = named(env, s);
  o.Set("flags", s.flags);
  o.Set("keyType", s.key_type);
  o.Set("keyLen", s.key_len);
  if (s.has_data) {
    o.Set("dataType", s.data_type);
    o.Set("dataLen", s.data_len);
  }
  o.Set("fieldLen", to_array(env, s.field_len, [](Napi::Env e, uint32_t n) { return Napi::Number::New(e, n); }));
  return o;
}

Napi::Object from_elem(Napi::Env env, const nft::Elem& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("key", from_bytes(env, e.key));
  if (!e.key_end.empty()) o.Set("keyEnd", from_bytes(env, e.key_end));
  o.Set("flags", e.flags);
  if (e.has_data) set_data(o, e.data);
  if (!e.userdata.empty()) o.Set("userdata", from_bytes(env, e.userdata));
  return o;
}

Napi::Object from_rule(Napi::Env env, const nft::Rule& r) {
  Napi::Object o = object(env, "family", r.family, "table", r.table, "chain", r.chain,
                          "handle", static_cast<double>(r.handle), "exprs",
                          to_array(env, r.expr_names, [](Napi::Env e, const std::string& n) { return Napi::String::New(e, n); }));
  if (!r.userdata.empty()) o.Set("userdata", from_bytes(env, r.userdata));
  return o;
}

}  // namespace nsnet::addon
