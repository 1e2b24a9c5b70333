#include "nft.h"

#include <memory>

#include "../ops/group.h"
#include "convert.h"
#include "handle.h"

namespace nsnet::addon {

Lane nft_lane(const ns::Namespace& ns) { return ns.nfnl_is_open() ? Lane::Netlink : Lane::Namespace; }

Napi::Value nft_transact(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
    std::vector<ops::NftOp> list;
    bool check_gen = false;
    uint32_t genid = 0;
    ops::NftResult result;
    void run() override { ops::nft_transact(*ns, list, check_gen, genid, &result, &err); }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = Napi::Object::New(env);
      o.Set("replies", to_array(env, result.replies, from_reply));
      o.Set("batch", from_reply(env, result.batch));
      o.Set("gen", result.has_gen ? Napi::Value(Napi::Number::New(env, result.gen)) : env.Null());
      o.Set("handles", to_array(env, result.handles, [](Napi::Env e, uint64_t h) { return Napi::Number::New(e, static_cast<double>(h)); }));
      return o;
    }
  };
  auto j = std::make_unique<J>();
  j->ns = NetnsHandle::From(info[0]);
  j->list = from_array(info[1], to_nft_op);
  if (info[2].IsNumber()) {
    j->check_gen = true;
    j->genid = info[2].As<Napi::Number>().Uint32Value();
  }
  const Lane lane = nft_lane(*j->ns);
  return runner.submit(info.Env(), j.release(), lane);
}

Napi::Value nft_list(Runner& runner, const Napi::CallbackInfo& info) {
  struct J : Job {
    std::shared_ptr<Namespace> ns;
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
      ns->with_nfnl(&err, [&](io::Socket& s) {
        if (what == "gen") return ops::nft_get_gen(s, &gen, &status, &err);
        if (what == "tables") return ops::nft_list_tables(s, family, &tables, &status, &err);
        if (what == "chains") return ops::nft_list_chains(s, family, table, &chains, &status, &err);
        if (what == "sets") return ops::nft_list_sets(s, family, table, &sets, &status, &err);
        if (what == "rules") return ops::nft_list_rules(s, family, table, &rules, &status, &err);
        return ops::nft_list_elems(s, family, table, set, &elems, &status, &err);
      });
    }
    Napi::Value value(Napi::Env env) override {
      Napi::Object o = from_reply(env, status);
      if (what == "gen") o.Set("gen", gen);
      else if (what == "tables") o.Set("items", to_array(env, tables, from_table));
      else if (what == "chains") o.Set("items", to_array(env, chains, from_chain));
      else if (what == "sets") o.Set("items", to_array(env, sets, from_set));
      else if (what == "rules") o.Set("items", to_array(env, rules, from_rule));
      else o.Set("items", to_array(env, elems, from_elem));
      return o;
    }
  };
  auto j = std::make_unique<J>();
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
