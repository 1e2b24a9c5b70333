#include "nft.h"

#include <errno.h>

#include <memory>

#include "../ns/ns.h"
#include "../ops/nft.h"
#include "convert.h"
#include "handle.h"
#include "nft_convert.h"

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

}  // namespace

Lane nft_lane(const Namespace& ns) { return ns.nfnl_open.load(std::memory_order_acquire) ? Lane::Netlink : Lane::Namespace; }

bool nft_transact_in(Namespace& ns, const std::vector<ops::NftOp>& list, bool check_gen, uint32_t genid,
                     ops::NftResult* out, io::SysError* err) {
  io::Socket* s = nfnl_socket(ns, err);
  if (!s) return false;
  std::lock_guard<std::mutex> lk(s->mu());
  return ops::nft_transact(*s, list, check_gen, genid, out, err);
}

namespace {

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
    void run() override { nft_transact_in(*ns, list, check_gen, genid, &result, &err); }
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
  const Lane lane = nft_lane(*j->ns);
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
  const Lane lane = nft_lane(*j->ns);
  return runner.submit(info.Env(), j.release(), lane);
}

}  // namespace nsnet::addon
