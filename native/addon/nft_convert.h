// JS values to nf_tables ops and back. Shapes mirror src/native.ts
// (NativeNftOp ...); src/netlink/nftables.ts validates input first, so a
// TypeError here means a bug in src/.
#pragma once

#include <napi.h>

#include "../nl/nft.h"
#include "../ops/nft.h"

namespace nsnet::addon {

ops::NftOp to_nft_op(Napi::Object o);

Napi::Object from_table(Napi::Env env, const nft::Table& t);
Napi::Object from_chain(Napi::Env env, const nft::Chain& c);
Napi::Object from_set(Napi::Env env, const nft::Set& s);
Napi::Object from_elem(Napi::Env env, const nft::Elem& e);
Napi::Object from_rule(Napi::Env env, const nft::Rule& r);

}  // namespace nsnet::addon
