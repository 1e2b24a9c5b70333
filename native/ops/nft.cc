#include "nft.h"

#include <errno.h>

namespace nsnet::ops {

namespace {

// Past this many elements in a first request, no echo (see flags_for).
constexpr size_t kEchoedElems = 64;
// The largest batch we build.
constexpr size_t kMaxBatch = 256u << 20;

uint8_t msg_for(const NftOp& op) {
  // Rows: table, chain, set, elements, rule. Columns: new, del, destroy.
  static const uint8_t kType[5][3] = {
      {NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, nft::kMsgDestroyTable},
      {NFT_MSG_NEWCHAIN, NFT_MSG_DELCHAIN, nft::kMsgDestroyChain},
      {NFT_MSG_NEWSET, NFT_MSG_DELSET, nft::kMsgDestroySet},
      {NFT_MSG_NEWSETELEM, NFT_MSG_DELSETELEM, nft::kMsgDestroySetElem},
      {NFT_MSG_NEWRULE, NFT_MSG_DELRULE, nft::kMsgDestroyRule},
  };
  const int col = op.verb == NftVerb::Del ? 1 : op.verb == NftVerb::Destroy ? 2 : 0;
  return kType[static_cast<int>(op.obj)][col];
}

uint16_t flags_for(const NftOp& op, bool first) {
  uint16_t f = op.verb == NftVerb::Add ? nft::kAdd : op.verb == NftVerb::Create ? nft::kCreate : nft::kDel;
  if (op.obj == NftObj::Rule && (op.verb == NftVerb::Add || op.verb == NftVerb::Create)) {
    // A rule is never "the same" as another: EXCL means nothing, APPEND
    // puts it after `position` (or at the end), as `nft add rule` does.
    f = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
  }
  // Echo what NEW ops create, to learn the handles the kernel gave. The
  // kernel echoes the new generation only when the batch's first request
  // asks for echoes, so that one does, unless it is a long element list:
  // the kernel would echo every element, and a burst that overflows our
  // receive queue would hide the ACKs of a transaction that went through.
  const bool is_new = op.verb == NftVerb::Add || op.verb == NftVerb::Create;
  const bool cheap = op.obj != NftObj::Elems || op.elems.elems.size() <= kEchoedElems;
  if ((first && cheap) || (is_new && op.obj != NftObj::Elems)) f |= NLM_F_ECHO;
  return f;
}

bool encode_op(nl::Builder& b, uint32_t seq, const NftOp& op, size_t index) {
  const uint8_t type = msg_for(op);
  const uint16_t flags = flags_for(op, index == 0);
  switch (op.obj) {
    case NftObj::Table: return nft::encode_table(b, type, flags, seq, op.table);
    case NftObj::Chain: return nft::encode_chain(b, type, flags, seq, op.chain);
    case NftObj::Set: {
      if (op.set.id || type != NFT_MSG_NEWSET) return nft::encode_set(b, type, flags, seq, op.set);
      // The kernel refuses a new set without an id (EINVAL, no extack); it
      // only has to be unique within the batch.
      nft::Set s = op.set;
      s.id = static_cast<uint32_t>(index + 1);
      return nft::encode_set(b, type, flags, seq, s);
    }
    case NftObj::Elems: return nft::encode_setelems(b, type, flags, seq, op.elems);
    case NftObj::Rule: return nft::encode_rule(b, type, flags, seq, op.rule);
  }
  return false;
}

// Bytes for the whole batch: nl::build_grown's first guess.
size_t guess(const std::vector<NftOp>& ops) {
  size_t n = 256;
  for (const NftOp& op : ops) {
    n += 512;
    for (const nft::Elem& e : op.elems.elems) n += 96 + e.key.size() + e.key_end.size() + e.data.value.size();
    n += op.rule.exprs.size() * 160 + op.rule.userdata.size() + op.set.userdata.size();
  }
  return n;
}

uint64_t handle_of(const nlmsghdr* h) {
  nft::Rule r;
  if (nft::decode_rule(h, &r)) return r.handle;
  nft::Chain c;
  if (nft::decode_chain(h, &c)) return c.handle;
  nft::Set st;
  if (nft::decode_set(h, &st)) return st.handle;
  nft::Table t;
  if (nft::decode_table(h, &t)) return t.handle;
  return 0;
}

}  // namespace

namespace {

// One message of the batch: an op, or a slice of a long element list. An
// attribute holds at most 64 KiB, so a list is cut into several
// NEWSETELEMs; they still commit as one transaction.
struct Part {
  size_t op;
  size_t from = 0, to = 0;  // element range, for element ops
};

constexpr size_t kElemBytesPerMessage = 48 * 1024;

size_t elem_bytes(const nft::Elem& e) {
  return 64 + e.key.size() + e.key_end.size() + e.data.value.size() + e.data.verdict.chain.size();
}

std::vector<Part> split(const std::vector<NftOp>& ops) {
  std::vector<Part> parts;
  for (size_t i = 0; i < ops.size(); i++) {
    const auto& elems = ops[i].elems.elems;
    if (ops[i].obj != NftObj::Elems || elems.empty()) {
      parts.push_back({i, 0, elems.size()});
      continue;
    }
    size_t from = 0, bytes = 0;
    for (size_t k = 0; k < elems.size(); k++) {
      const size_t n = elem_bytes(elems[k]);
      if (k > from && bytes + n > kElemBytesPerMessage) {
        parts.push_back({i, from, k});
        from = k;
        bytes = 0;
      }
      bytes += n;
    }
    parts.push_back({i, from, elems.size()});
  }
  return parts;
}

bool encode_part(nl::Builder& b, uint32_t seq, const std::vector<NftOp>& ops, const Part& p, size_t index) {
  const NftOp& op = ops[p.op];
  if (op.obj != NftObj::Elems || (p.from == 0 && p.to == op.elems.elems.size())) return encode_op(b, seq, op, index);
  NftOp slice;
  slice.obj = op.obj;
  slice.verb = op.verb;
  slice.elems.family = op.elems.family;
  slice.elems.table = op.elems.table;
  slice.elems.set = op.elems.set;
  slice.elems.set_id = op.elems.set_id;
  slice.elems.elems.assign(op.elems.elems.begin() + static_cast<long>(p.from), op.elems.elems.begin() + static_cast<long>(p.to));
  return encode_op(b, seq, slice, index);
}

}  // namespace

bool nft_transact(io::Socket& s, const std::vector<NftOp>& ops, bool check_gen, uint32_t genid, NftResult* out,
                  io::SysError* err) {
  *out = NftResult{};
  out->handles.assign(ops.size(), 0);
  out->replies.assign(ops.size(), io::Reply{});
  const std::vector<Part> parts = split(ops);
  const uint32_t begin_seq = s.reserve_seq(static_cast<uint32_t>(parts.size() + 2));
  const uint32_t first = begin_seq + 1;
  std::vector<uint8_t> buf(guess(ops));
  std::vector<size_t> at(parts.size());  // where each message starts
  const auto build = [&](nl::Builder& b) {
    nft::encode_batch_begin(b, begin_seq, check_gen, genid);
    for (size_t i = 0; i < parts.size(); i++) {
      encode_part(b, first + static_cast<uint32_t>(i), ops, parts[i], i);
      at[i] = b.message_offset();
    }
    nft::encode_batch_end(b, first + static_cast<uint32_t>(parts.size()));
  };
  // Every message fits 64 KiB by construction; only the whole can outgrow
  // the guess. An op that is itself too big (a rule of huge expressions)
  // fails this way, before anything is sent.
  if (!nl::build_grown(&buf, kMaxBatch, build)) return io::fail(err, EMSGSIZE, "nf_tables batch does not fit");
  auto on_msg = [&](size_t i, const nlmsghdr* h) {
    uint32_t gen;
    if (nft::decode_gen(h, &gen)) {
      out->has_gen = true;
      out->gen = gen;
    } else if (i < parts.size()) {
      if (const uint64_t handle = handle_of(h)) out->handles[parts[i].op] = handle;
    }
  };
  std::vector<io::Reply> replies;
  if (!s.transact_batch(buf.data(), buf.size(), begin_seq, first, parts.size(), &replies, &out->batch, on_msg, err))
    return false;
  for (size_t i = 0; i < parts.size(); i++) {
    io::Reply& r = replies[i];
    io::Reply& mine = out->replies[parts[i].op];
    if (!r.error || mine.error) continue;  // an op reports its first failing message
    // nf_tables often answers with only an offset: name what it points at,
    // after the kernel's text when there is one.
    if (r.has_offset) {
      const std::string what = nft::describe_offset(reinterpret_cast<const nlmsghdr*>(buf.data() + at[i]), r.offset);
      if (!what.empty()) r.message = r.message.empty() ? "at " + what : r.message + " (at " + what + ")";
    }
    mine = std::move(r);
  }
  return true;
}

bool nft_get_gen(io::Socket& s, uint32_t* genid, io::Reply* status, io::SysError* err) {
  bool got = false;
  auto on_msg = [&](size_t, const nlmsghdr* h) { got = nft::decode_gen(h, genid) || got; };
  if (!s.request(nft::encode_getgen, on_msg, status, err)) return false;
  if (!status->error && !got) status->error = -EBADMSG, status->message = "no generation in NFT_MSG_NEWGEN";
  return true;
}

namespace {

// A dump of `type`. Not every dump honours the table filter: apply it here as well.
template <class Info, class Decode>
bool nft_dump(io::Socket& s, uint8_t type, uint8_t family, const std::string& table, const std::string& set,
              Decode decode, std::vector<Info>* out, io::Reply* status, io::SysError* err) {
  const auto enc = [&](nl::Builder& b, uint32_t seq) { return nft::encode_dump(b, type, seq, family, table, set); };
  const auto keep = [&](const nlmsghdr* h, Info* info) { return decode(h, info) && (table.empty() || info->table == table); };
  return io::dump_into(s, enc, keep, out, status, err);
}

// Tables have a name, not a table; give the dump filter something to compare.
struct TableRow : nft::Table {
  std::string table;
};

}  // namespace

bool nft_list_tables(io::Socket& s, uint8_t family, std::vector<nft::Table>* out, io::Reply* status, io::SysError* err) {
  std::vector<TableRow> rows;
  auto decode = [](const nlmsghdr* h, TableRow* t) { return nft::decode_table(h, t); };
  if (!nft_dump<TableRow>(s, NFT_MSG_GETTABLE, family, "", "", decode, &rows, status, err)) return false;
  for (auto& r : rows) out->push_back(std::move(static_cast<nft::Table&>(r)));
  return true;
}

bool nft_list_chains(io::Socket& s, uint8_t family, const std::string& table, std::vector<nft::Chain>* out,
                     io::Reply* status, io::SysError* err) {
  return nft_dump<nft::Chain>(s, NFT_MSG_GETCHAIN, family, table, "", nft::decode_chain, out, status, err);
}

bool nft_list_sets(io::Socket& s, uint8_t family, const std::string& table, std::vector<nft::Set>* out,
                   io::Reply* status, io::SysError* err) {
  return nft_dump<nft::Set>(s, NFT_MSG_GETSET, family, table, "", nft::decode_set, out, status, err);
}

bool nft_list_rules(io::Socket& s, uint8_t family, const std::string& table, std::vector<nft::Rule>* out,
                    io::Reply* status, io::SysError* err) {
  return nft_dump<nft::Rule>(s, NFT_MSG_GETRULE, family, table, "", nft::decode_rule, out, status, err);
}

bool nft_list_elems(io::Socket& s, uint8_t family, const std::string& table, const std::string& set,
                    std::vector<nft::Elem>* out, io::Reply* status, io::SysError* err) {
  std::vector<nft::ElemList> lists;
  if (!nft_dump<nft::ElemList>(s, NFT_MSG_GETSETELEM, family, table, set, nft::decode_setelems, &lists, status, err))
    return false;
  for (auto& l : lists)
    for (auto& e : l.elems) out->push_back(std::move(e));
  return true;
}

}  // namespace nsnet::ops
