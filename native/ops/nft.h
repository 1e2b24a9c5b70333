// nf_tables operations on one namespace's NETLINK_NETFILTER socket: a list
// of changes committed as one kernel transaction, the ruleset generation,
// and dumps of tables, chains, sets, elements and rules.
#pragma once

#include <string>
#include <vector>

#include "../io/socket.h"
#include "../nl/nft.h"

namespace nsnet::ops {

enum class NftObj : uint8_t { Table, Chain, Set, Elems, Rule };
// add: NLM_F_CREATE (an existing object is left as is); create: also
// NLM_F_EXCL; del: fails on a missing object; destroy: does not (6.3+).
enum class NftVerb : uint8_t { Add, Create, Del, Destroy };

struct NftOp {
  NftObj obj = NftObj::Table;
  NftVerb verb = NftVerb::Add;
  nft::Table table;
  nft::Chain chain;
  nft::Set set;
  nft::ElemList elems;
  nft::Rule rule;
};

struct NftResult {
  std::vector<io::Reply> replies;  // one per op
  io::Reply batch;                 // the batch's own answer: ERESTART when the generation moved
  bool has_gen = false;
  uint32_t gen = 0;                // the generation this transaction committed (not
                                   // known when the batch opens with a long element list)
  std::vector<uint64_t> handles;   // per op: the handle a NEW op's object got, else 0
};

// Sends BATCH_BEGIN, one message per op and BATCH_END in one sendmsg: the
// kernel applies all of them or none. With check_gen the kernel refuses the
// batch (ERESTART) unless the ruleset is still at generation genid.
bool nft_transact(io::Socket& s, const std::vector<NftOp>& ops, bool check_gen, uint32_t genid, NftResult* out,
                  io::SysError* err);
bool nft_get_gen(io::Socket& s, uint32_t* genid, io::Reply* status, io::SysError* err);

// family 0 lists every family; an empty table lists every table's objects.
bool nft_list_tables(io::Socket& s, uint8_t family, std::vector<nft::Table>* out, io::Reply* status, io::SysError* err);
bool nft_list_chains(io::Socket& s, uint8_t family, const std::string& table, std::vector<nft::Chain>* out,
                     io::Reply* status, io::SysError* err);
bool nft_list_sets(io::Socket& s, uint8_t family, const std::string& table, std::vector<nft::Set>* out,
                   io::Reply* status, io::SysError* err);
bool nft_list_rules(io::Socket& s, uint8_t family, const std::string& table, std::vector<nft::Rule>* out,
                    io::Reply* status, io::SysError* err);
// A set's elements: family, table and set are all required.
bool nft_list_elems(io::Socket& s, uint8_t family, const std::string& table, const std::string& set,
                    std::vector<nft::Elem>* out, io::Reply* status, io::SysError* err);

}  // namespace nsnet::ops
