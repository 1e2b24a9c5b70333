#include "nft.h"

#include <errno.h>

#include <memory>

#include "../ns/ns.h"
#include "../ops/nft.h"
#include "convert.h"
#include "handle.h"

namespace nsnet::addon {

namespace {

// The namespace's nf_tables socket, opened on first use. Opening enters the
// namespace, so a job that may open it runs on the namespace lane.
io::Socket* nfnl_socket(Namespace& ns, io::SysError* err) {
  std::lock_guard<std::mutex> lk(ns.nfnl_mu);
  if (!ns.nfnl) {
    ns.nfnl.reset(ns::netlink_in(ns.fd, NETLINK_NETFILTER, err));
    if (!ns.nfnl) return nullptr;
    ns.nfnl_open.store(true, std::memory_order_release);
  }
  return ns.nfnl.get();
}

Lane lane_for(const Namespace& ns) { return ns.nfnl_open.load(std::memory_order_acquire) ? Lane::Netlink : Lane::Namespace; }

class NftJob : public Job {
 public:
  Napi::Value settle(Napi::Env env) override {
    if (err) throw from_sys(env, err);
    return value(env);
  }
  virtual Napi::Value value(Napi::Env env) = 0;

  std::shared_ptr<Namespace> ns;
  io::SysError err;
};

// ---- JS to codec structs. src/netlink/nftables.ts validated all of it.

uint32_t u32(Napi::Object o, const char* k, uint32_t dflt = 0) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}
int64_t i64(Napi::Object o, const char* k, int64_t dflt) {
  Napi::Value v = o.Get(k);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : dflt;
}
std::string str(Napi::Object o, const char* k) {
  Napi::Value v = o.Get(k);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
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
  static const std::pair<const char*, nft::ExprKind> kinds[] = {
      {"meta", nft::ExprKind::Meta},     {"payload", nft::ExprKind::Payload},
      {"cmp", nft::ExprKind::Cmp},       {"bitwise", nft::ExprKind::Bitwise},
      {"lookup", nft::ExprKind::Lookup}, {"immediate", nft::ExprKind::Immediate},
      {"ct", nft::ExprKind::Ct},         {"nat", nft::ExprKind::Nat},
      {"masq", nft::ExprKind::Masq},     {"counter", nft::ExprKind::Counter},
      {"fib", nft::ExprKind::Fib},
  };
  for (auto& [name, k] : kinds)
    if (s == name) return k;
  NAPI_THROW(Napi::TypeError::New(env, "unknown expression " + s), nft::ExprKind::Counter);
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

ops::NftOp to_nft_op(Napi::Object o) {
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
    nft::Chain& c = op.chain;
    c.family = family;
    c.table = str(o, "table");
    c.name = str(o, "name");
    c.handle = handle;
    c.base = has(o, "hook");
    c.hooknum = u32(o, "hook");
    c.priority = static_cast<int32_t>(i64(o, "priority", 0));
    c.type = str(o, "type");
    c.policy = static_cast<int32_t>(i64(o, "policy", -1));
  } else if (obj == "set") {
    op.obj = ops::NftObj::Set;
    nft::Set& s = op.set;
    s.family = family;
    s.table = str(o, "table");
    s.name = str(o, "name");
    s.handle = handle;
    s.flags = u32(o, "flags");
    s.key_type = u32(o, "keyType");
    s.key_len = u32(o, "keyLen");
    s.has_data = has(o, "dataType");
    s.data_type = u32(o, "dataType");
    s.data_len = u32(o, "dataLen");
    s.id = u32(o, "id");
    s.userdata = bytes(o, "userdata");
    if (o.Get("fieldLen").IsArray()) {
      Napi::Array a = o.Get("fieldLen").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) s.field_len.push_back(a.Get(i).As<Napi::Number>().Uint32Value());
    }
  } else if (obj == "elems") {
    op.obj = ops::NftObj::Elems;
    nft::ElemList& l = op.elems;
    l.family = family;
    l.table = str(o, "table");
    l.set = str(o, "set");
    l.set_id = u32(o, "setId");
    Napi::Array a = o.Get("elems").As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Object eo = a.Get(i).As<Napi::Object>();
      nft::Elem e;
      e.key = bytes(eo, "key");
      e.key_end = bytes(eo, "keyEnd");
      e.flags = u32(eo, "flags");
      e.has_data = has(eo, "data") || has(eo, "verdict");
      if (e.has_data) e.data = to_data(eo);
      l.elems.push_back(std::move(e));
    }
  } else if (obj == "rule") {
    op.obj = ops::NftObj::Rule;
    nft::Rule& r = op.rule;
    r.family = family;
    r.table = str(o, "table");
    r.chain = str(o, "chain");
    r.handle = handle;
    r.position = static_cast<uint64_t>(i64(o, "position", 0));
    r.userdata = bytes(o, "userdata");
    if (o.Get("exprs").IsArray()) {
      Napi::Array a = o.Get("exprs").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) r.exprs.push_back(to_expr(a.Get(i).As<Napi::Object>()));
    }
  } else {
    NAPI_THROW(Napi::TypeError::New(env, "unknown nf_tables object " + obj), op);
  }
  return op;
}

// ---- codec structs to JS.

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

Napi::Object from_table(Napi::Env env, const nft::Table& t) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", t.family);
  o.Set("name", t.name);
  o.Set("flags", t.flags);
  o.Set("handle", static_cast<double>(t.handle));
  o.Set("use", t.use);
  return o;
}

Napi::Object from_chain(Napi::Env env, const nft::Chain& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", c.family);
  o.Set("table", c.table);
  o.Set("name", c.name);
  o.Set("handle", static_cast<double>(c.handle));
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
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", s.family);
  o.Set("table", s.table);
  o.Set("name", s.name);
  o.Set("handle", static_cast<double>(s.handle));
  o.Set("flags", s.flags);
  o.Set("keyType", s.key_type);
  o.Set("keyLen", s.key_len);
  if (s.has_data) {
    o.Set("dataType", s.data_type);
    o.Set("dataLen", s.data_len);
  }
  Napi::Array f = Napi::Array::New(env, s.field_len.size());
  for (size_t i = 0; i < s.field_len.size(); i++) f.Set(static_cast<uint32_t>(i), s.field_len[i]);
  o.Set("fieldLen", f);
  return o;
}

Napi::Object from_elem(Napi::Env env, const nft::Elem& e) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("key", from_bytes(env, e.key));
  if (!e.key_end.empty()) o.Set("keyEnd", from_bytes(env, e.key_end));
  o.Set("flags", e.flags);
  if (e.has_data) set_data(o, e.data);
  return o;
}

Napi::Object from_rule(Napi::Env env, const nft::Rule& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", r.family);
  o.Set("table", r.table);
  o.Set("chain", r.chain);
  o.Set("handle", static_cast<double>(r.handle));
  Napi::Array names = Napi::Array::New(env, r.expr_names.size());
  for (size_t i = 0; i < r.expr_names.size(); i++) names.Set(static_cast<uint32_t>(i), r.expr_names[i]);
  o.Set("exprs", names);
  if (!r.userdata.empty()) o.Set("userdata", from_bytes(env, r.userdata));
  return o;
}

template <class T, class F>
Napi::Array array(Napi::Env env, const std::vector<T>& v, F f) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), f(env, v[i]));
  return a;
}

}  // namespace

Napi::Value nft_transact(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : NftJob {
    std::vector<ops::NftOp> list;
    bool check_gen = false;
    uint32_t genid = 0;
    ops::NftResult result;
    void run() override {
      io::Socket* s = nfnl_socket(*ns, &err);
      if (!s) return;
      std::lock_guard<std::mutex> lk(s->mu());
      ops::nft_transact(*s, list, check_gen, genid, &result, &err);
    }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = Napi::Object::New(env);
      Napi::Array r = Napi::Array::New(env, result.replies.size());
      for (size_t i = 0; i < result.replies.size(); i++) r.Set(static_cast<uint32_t>(i), from_reply(env, result.replies[i]));
      o.Set("replies", r);
      o.Set("batch", from_reply(env, result.batch));
      o.Set("gen", result.has_gen ? Napi::Value(Napi::Number::New(env, result.gen)) : env.Null());
      Napi::Array h = Napi::Array::New(env, result.handles.size());
      for (size_t i = 0; i < result.handles.size(); i++) h.Set(static_cast<uint32_t>(i), static_cast<double>(result.handles[i]));
      o.Set("handles", h);
      return o;
    }
  };
  std::unique_ptr<J> j(new J);
  j->ns = NetnsHandle::From(info[0]);
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) j->list.push_back(to_nft_op(a.Get(i).As<Napi::Object>()));
  if (info[2].IsNumber()) {
    j->check_gen = true;
    j->genid = info[2].As<Napi::Number>().Uint32Value();
  }
  const Lane lane = lane_for(*j->ns);
  return runner.submit(info.Env(), j.release(), lane);
}

Napi::Value nft_list(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : NftJob {
    std::string what, table, set;
    uint8_t family = 0;
    io::Reply status;
    uint32_t gen = 0;
    std::vector<nft::Table> tables;
    std::vector<nft::Chain> chains;
    std::vector<nft::Set> sets;
    std::vector<nft::Rule> rules;
    std::vector<nft::Elem> elems;
    void run() override {
      io::Socket* s = nfnl_socket(*ns, &err);
      if (!s) return;
      std::lock_guard<std::mutex> lk(s->mu());
      if (what == "gen") ops::nft_get_gen(*s, &gen, &status, &err);
      else if (what == "tables") ops::nft_list_tables(*s, family, &tables, &status, &err);
      else if (what == "chains") ops::nft_list_chains(*s, family, table, &chains, &status, &err);
      else if (what == "sets") ops::nft_list_sets(*s, family, table, &sets, &status, &err);
      else if (what == "rules") ops::nft_list_rules(*s, family, table, &rules, &status, &err);
      else ops::nft_list_elems(*s, family, table, set, &elems, &status, &err);
    }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = from_reply(env, status);
      if (what == "gen") o.Set("gen", gen);
      else if (what == "tables") o.Set("items", array(env, tables, from_table));
      else if (what == "chains") o.Set("items", array(env, chains, from_chain));
      else if (what == "sets") o.Set("items", array(env, sets, from_set));
      else if (what == "rules") o.Set("items", array(env, rules, from_rule));
      else o.Set("items", array(env, elems, from_elem));
      return o;
    }
  };
  std::unique_ptr<J> j(new J);
  j->ns = NetnsHandle::From(info[0]);
  j->what = info[1].ToString().Utf8Value();
  static const char* const kWhat[] = {"gen", "tables", "chains", "sets", "rules", "elems"};
  bool known = false;
  for (const char* w : kWhat) known = known || j->what == w;
  if (!known) NAPI_THROW(Napi::TypeError::New(info.Env(), "nftList: unknown kind " + j->what), Napi::Value());
  j->family = static_cast<uint8_t>(info[2].ToNumber().Uint32Value());
  j->table = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  j->set = info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : "";
  const Lane lane = lane_for(*j->ns);
  return runner.submit(info.Env(), j.release(), lane);
}

}  // namespace nsnet::addon
