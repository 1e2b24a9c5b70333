#include "resync.h"

#include <errno.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

namespace nsnet::io {

namespace {

// Decodes h into out as an event of `kind`: a delete when h is del_type,
// else new. Returns the object, or null for a message decode refuses.
template <class Info>
const Info* decode_into(const nlmsghdr* h, bool (*decode)(const nlmsghdr*, Info*), EvKind kind, uint16_t del_type,
                        Event* out) {
  Info info;
  if (!decode(h, &info)) return nullptr;
  out->kind = kind;
  out->action = h->nlmsg_type == del_type ? EvAction::Del : EvAction::New;
  out->obj = std::move(info);
  return &std::get<Info>(out->obj);
}

}  // namespace

bool parse_event(const nlmsghdr* h, Event* out) {
  switch (h->nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      const rtnl::LinkInfo* l = decode_into(h, rtnl::decode_link, EvKind::Link, RTM_DELLINK, out);
      // register_netdevice and rtnl_configure_link announce a new device
      // with ifi_change = ~0; any other RTM_NEWLINK is a change.
      if (l && out->action == EvAction::New && l->change != ~0u) out->action = EvAction::Change;
      return l != nullptr;
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: return decode_into(h, rtnl::decode_addr, EvKind::Addr, RTM_DELADDR, out) != nullptr;
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      const rtnl::RouteInfo* r = decode_into(h, rtnl::decode_route, EvKind::Route, RTM_DELROUTE, out);
      // Cloned routes are IPv6 exceptions (PMTU, redirects), not the table.
      if (!r || (r->flags & RTM_F_CLONED)) return false;
      if (out->action == EvAction::New && (h->nlmsg_flags & NLM_F_REPLACE)) out->action = EvAction::Change;
      return true;
    }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: return decode_into(h, rtnl::decode_neigh, EvKind::Neigh, RTM_DELNEIGH, out) != nullptr;
    default: return false;
  }
}

Resync::Resync(uint32_t what, uint32_t portid, ResyncPort* port) : portid_(portid), port_(port) {
  if (what & kLinks) phases_.push_back({RTM_GETLINK, AF_UNSPEC});
  if (what & kAddrs) phases_.push_back({RTM_GETADDR, AF_UNSPEC});
  if (what & kRoutes) phases_.push_back({RTM_GETROUTE, AF_UNSPEC});
  // Per family: AF_UNSPEC would add every bridge's FDB, which we skip.
  if (what & kNeighs) phases_.insert(phases_.end(), {{RTM_GETNEIGH, AF_INET}, {RTM_GETNEIGH, AF_INET6}});
}

void Resync::begin(ResyncReason why) {
  if (over_) return;
  port_->resync_begins();
  Event e;
  e.kind = EvKind::Resync;
  e.reason = why;
  port_->queue(std::move(e));
  phase_ = 0;
  again_ = false;
  interrupted_ = false;
  if (phases_.empty()) {
    Event done;
    done.kind = EvKind::Synced;
    port_->queue(std::move(done));
    return;
  }
  send_phase();
}

void Resync::send_phase() {
  const auto [type, family] = phases_[phase_];
  uint32_t seq = 0;
  if (!port_->request_dump(type, family, &seq)) {
    over_ = true;
    dumping_ = false;
    return;
  }
  dumping_ = true;
  dump_seq_ = seq;
}

void Resync::lost() {
  if (over_) return;
  // A dump in flight finishes first, then starts over.
  if (dumping_) again_ = true;
  else begin(ResyncReason::Overflow);
}

void Resync::on_datagram(const uint8_t* buf, size_t len) {
  nl::MsgIter it(buf, len);
  while (!over_) {
    const nlmsghdr* h = it.next();
    if (!h) break;
    if (h->nlmsg_pid == portid_ && h->nlmsg_seq == dump_seq_ && dumping_) {
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) interrupted_ = true;
      if (h->nlmsg_type == NLMSG_ERROR) {
        // The dump started but its first part found the socket buffer
        // full: the kernel keeps it running and goes on at our next read.
        nl::Ack ack;
        if (nl::decode_ack(h, &ack) && ack.error == -ENOBUFS) continue;
      }
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        // An error (a family this kernel lacks) ends the phase all the same.
        dumping_ = false;
        if (again_ || interrupted_) {
          begin(again_ ? ResyncReason::Overflow : ResyncReason::Interrupted);
        } else if (++phase_ < phases_.size()) {
          send_phase();
        } else {
          Event done;
          done.kind = EvKind::Synced;
          port_->queue(std::move(done));
        }
        continue;
      }
      Event e;
      if (parse_event(h, &e)) {
        e.action = EvAction::New;  // a dump lists what exists
        port_->queue(std::move(e));
      }
      continue;
    }
    Event e;
    if (parse_event(h, &e)) port_->queue(std::move(e));
  }
  // A message that overruns the datagram ends the walk: what it and the
  // rest said is lost.
  if (it.truncated()) lost();
}

}  // namespace nsnet::io
