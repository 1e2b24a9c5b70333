// The functions that build the kernel's objects the addon hands over (see
// Shapes in native/addon/convert.h): one object literal each, so an object
// is made in one step rather than a property at a time through N-API. Each
// takes its fields in the order the addon gives them; shapes.test.ts checks
// that order against the addon's own (native.shapeKeys()).
import type { NativeAddr as A, NativeFdb as B, NativeLink as L, NativeNeigh as N, NativeRoute as R, NativeRule as F, NativeSocket as S } from './native-objects.js';
import type { NativeReply as E } from './native-reply.js';

export const shapes = {
  link: (
    ifindex: L['ifindex'], name: L['name'], kind: L['kind'], flags: L['flags'], mtu: L['mtu'], mac: L['mac'],
    master: L['master'], link: L['link'], linkNetnsid: L['linkNetnsid'], operstate: L['operstate'],
    txqlen: L['txqlen'], group: L['group'], slaveKind: L['slaveKind'], alias: L['alias'],
  ): L => ({ ifindex, name, kind, flags, mtu, mac, master, link, linkNetnsid, operstate, txqlen, group, slaveKind, alias }),
  addr: (
    family: A['family'], ifindex: A['ifindex'], address: A['address'], peer: A['peer'], prefixlen: A['prefixlen'],
    scope: A['scope'], flags: A['flags'], broadcast: A['broadcast'], label: A['label'], validLft: A['validLft'],
    preferredLft: A['preferredLft'],
  ): A => ({ family, ifindex, address, peer, prefixlen, scope, flags, broadcast, label, validLft, preferredLft }),
  route: (
    family: R['family'], dst: R['dst'], dstLen: R['dstLen'], gateway: R['gateway'], prefsrc: R['prefsrc'],
    oif: R['oif'], table: R['table'], metric: R['metric'], scope: R['scope'], protocol: R['protocol'],
    type: R['type'], flags: R['flags'], mtu: R['mtu'], src: R['src'], srcLen: R['srcLen'], metrics: R['metrics'],
    pref: R['pref'],
  ): R => ({ family, dst, dstLen, gateway, prefsrc, oif, table, metric, scope, protocol, type, flags, mtu, src, srcLen, metrics, pref }),
  neigh: (
    family: N['family'], ifindex: N['ifindex'], dst: N['dst'], lladdr: N['lladdr'], state: N['state'],
    flags: N['flags'], type: N['type'],
  ): N => ({ family, ifindex, dst, lladdr, state, flags, type }),
  rule: (
    family: F['family'], priority: F['priority'], table: F['table'], action: F['action'], body: F['body'],
  ): F => ({ family, priority, table, action, body }),
  fdb: (
    ifindex: B['ifindex'], lladdr: B['lladdr'], dst: B['dst'], state: B['state'], flags: B['flags'],
    master: B['master'], vni: B['vni'], vlan: B['vlan'],
  ): B => ({ ifindex, lladdr, dst, state, flags, master, vni, vlan }),
  sock: (
    family: S['family'], protocol: S['protocol'], type: S['type'], state: S['state'], inode: S['inode'],
    uid: S['uid'], src: S['src'], dst: S['dst'], sport: S['sport'], dport: S['dport'], portid: S['portid'],
    ethertype: S['ethertype'], name: S['name'],
  ): S => ({ family, protocol, type, state, inode, uid, src, dst, sport, dport, portid, ethertype, name }),
  reply: (
    errno: E['errno'], message: E['message'], offset: E['offset'],
  ): E => ({ errno, message, offset }),
};
