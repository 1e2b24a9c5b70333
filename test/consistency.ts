// Does a store agree with the kernel? Used after crashes, races and outside
// interference: every address and host port held once, by an endpoint that
// exists; every sandbox of the store has its mounted namespace, its files
// and, per joined endpoint, its veth on its bridge with its address inside
// (an external sandbox: no files, its runtime's namespace wherever it is);
// and nothing more of this store is in the kernel or on disk (veths, DNAT
// elements, namespaces, files). Returns the problems found, one line each.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Controller } from '../src/index.js';
import { isMounted } from '../src/netlink/netns.js';
import { ownerOf } from '../src/owner.js';
import { openEngine } from '../src/store/engine.js';
import { ipj } from './helpers.js';
import { nftj, ofKind } from './nft-helpers.js';

const ls = (d: string) => {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
};
const dupes = (xs: string[]) => [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];

/** `proto/port[@hostIp] -> ip:port` for each DNAT element in nft -j, and for each published mapping in the store. */
function nftPorts(objs: any[]): string[] {
  const out: string[] = [];
  for (const m of ofKind(objs, 'map')) {
    if (!String(m.name).startsWith('dnat')) continue;
    for (const [k, v] of (m.elem ?? []) as [any, any][]) {
      // An element with a comment is listed as { elem: { val, comment } }.
      const key = (k.elem?.val ?? k).concat as (string | number)[];
      const [ip, port] = v.concat as [string, number];
      const [hostIp, proto, hostPort] = key.length === 3 ? key : [m.name.endsWith('6_any') ? '::' : '0.0.0.0', ...key];
      out.push(`${proto}/${hostPort}@${hostIp} -> ${ip}:${port}`);
    }
  }
  return out.sort();
}

export async function problems(c: Controller, hostName: string, prefix: string): Promise<string[]> {
  const out: string[] = [];
  const s = await c.store.view((t) => ({ sandboxes: t.sandboxes(), endpoints: t.endpoints(), networks: t.networks() }));
  const db = openEngine(join(c.stateDir, 'nsnet.db'));
  const allocations = db.prepare('SELECT pool, address, owner FROM allocations').all() as { pool: string; address: string; owner: string }[];
  db.close();
  const eps = new Map(s.endpoints.map((e) => [e.id, e]));
  const sbs = new Map(s.sandboxes.map((x) => [x.id, x]));

  // The store: each address and host port once, each held by an endpoint that has it.
  out.push(...dupes(s.endpoints.flatMap((e) => e.addresses.map((a) => `${e.networkId}/${a.split('/')[0]}`))).map((d) => `address held twice: ${d}`));
  out.push(...dupes(s.endpoints.flatMap((e) => (e.ports ?? []).filter((p) => !p.standby).map((p) => `${p.protocol}/${p.hostPort}@${p.hostIp}`))).map((d) => `host port held twice: ${d}`));
  // A mapping stood by for is held, the same, by another endpoint of its sandbox.
  for (const e of s.endpoints)
    for (const p of (e.ports ?? []).filter((x) => x.standby)) {
      const h = eps.get(allocations.find((a) => a.pool === `port/${p.protocol}/${p.hostPort}` && a.address === p.hostIp)?.owner ?? '');
      const same = h?.ports?.some((x) => !x.standby && x.protocol === p.protocol && x.hostIp === p.hostIp && x.hostPort === p.hostPort && x.containerPort === p.containerPort);
      if (!h || h.id === e.id || !e.sandboxId || h.sandboxId !== e.sandboxId || !same) out.push(`endpoint ${e.name}: stands by for ${p.protocol}/${p.hostPort}@${p.hostIp}, which no other endpoint of its sandbox publishes`);
    }
  for (const a of allocations) {
    const e = eps.get(a.owner);
    const port = a.pool.match(/^port\/(\w+)\/(\d+)$/);
    const has = port
      ? e?.ports?.some((p) => !p.standby && p.protocol === port[1] && p.hostPort === Number(port[2]) && p.hostIp === a.address)
      : e?.addresses.some((x) => x.split('/')[0] === a.address);
    if (!has) out.push(`allocation ${a.pool} ${a.address} held by ${e ? `endpoint ${e.name}, which does not have it` : `a gone endpoint ${a.owner.slice(0, 12)}`}`);
  }
  for (const e of s.endpoints) {
    for (const a of e.addresses) if (!allocations.some((x) => x.owner === e.id && x.address === a.split('/')[0])) out.push(`endpoint ${e.name}: ${a} not allocated`);
    if (e.sandboxId && !sbs.has(e.sandboxId)) out.push(`endpoint ${e.name}: joined to a gone sandbox`);
  }
  for (const x of [...s.sandboxes, ...s.networks]) if (x.busy) out.push(`${'netnsKind' in x ? 'sandbox' : 'network'} ${x.name}: still marked busy (${x.busy.op} by ${x.busy.pid})`);

  // The kernel and the disk against the store.
  const own = s.sandboxes.filter((x) => x.netnsKind === 'own' && x.name.startsWith(prefix));
  const runDir = c.runDir;
  const inRunDir = ls(runDir).filter((n) => n.startsWith(prefix)).sort();
  const names = own.map((x) => x.name).sort();
  if (JSON.stringify(inRunDir) !== JSON.stringify(names)) out.push(`${runDir} holds [${inRunDir}], the store [${names}]`);
  for (const x of own) if (!isMounted(x.netnsPath)) out.push(`sandbox ${x.name}: ${x.netnsPath} is not mounted`);
  const links = await ipj<any[]>(hostName, 'link', 'show');
  const byName = new Map(links.map((l) => [l.ifname, l]));
  const joined = s.endpoints.filter((e) => e.sandboxId && e.hostIfname && sbs.get(e.sandboxId)?.name.startsWith(prefix));
  const netOf = new Map(s.networks.map((n) => [n.id, n]));
  for (const e of joined) {
    const l = byName.get(e.hostIfname!);
    const bridge = netOf.get(e.networkId)?.driverState.bridge;
    if (!l) out.push(`endpoint ${e.name}: veth ${e.hostIfname} missing`);
    else if (l.master !== bridge) out.push(`endpoint ${e.name}: veth ${e.hostIfname} on ${l.master ?? 'no bridge'}, not ${bridge}`);
    const sb = sbs.get(e.sandboxId!)!;
    // An external sandbox's namespace is its runtime's, wherever it is mounted.
    if (sb.netnsKind === 'external' ? existsSync(sb.netnsPath) : isMounted(sb.netnsPath)) {
      const inside = (await ipj<any[]>(sb.netnsKind === 'external' ? sb.netnsPath : sb.name, 'addr', 'show')).flatMap((i) => (i.addr_info ?? []).map((a: any) => `${a.local}/${a.prefixlen}`));
      for (const a of e.addresses) if (!inside.includes(a)) out.push(`sandbox ${sb.name}: ${a} missing inside`);
    }
  }
  const veths = links.filter((l) => /^nsv[0-9a-f]{8}$/.test(l.ifname)).map((l) => l.ifname as string).sort();
  const storeVeths = s.endpoints.filter((e) => e.sandboxId && e.hostIfname).map((e) => e.hostIfname!).sort();
  const extra = veths.filter((v) => !storeVeths.includes(v));
  if (extra.length) out.push(`veths the store does not know: ${extra}`);
  const wantPorts = s.endpoints
    .filter((e) => e.sandboxId)
    .flatMap((e) =>
      (e.ports ?? []).filter((p) => !p.standby).flatMap((p) => {
        const addr = e.addresses.find((a) => a.includes(':') === p.hostIp.includes(':'));
        return addr ? [`${p.protocol}/${p.hostPort}@${p.hostIp} -> ${addr.split('/')[0]}:${p.containerPort}`] : [];
      }),
    )
    .sort();
  // Networks: each bridge this store made is there, and no bridge it tagged is left without its network; nsnet's self set names exactly its networks' interfaces (a bridge, a routed network's prefix*).
  const made = s.networks.filter((n) => n.driver === 'bridge' && n.driverState.createdBridge).map((n) => String(n.driverState.bridge)).sort();
  const tagged = links.filter((l) => ownerOf(l.ifalias) === c.store.id && !/^nsv[0-9a-f]{8}$/.test(l.ifname)).map((l) => l.ifname as string).sort();
  if (JSON.stringify(tagged) !== JSON.stringify(made)) out.push(`bridges tagged as this store's [${tagged}], the store's networks made [${made}]`);
  for (const n of s.networks) if (n.driver === 'bridge' && !byName.has(String(n.driverState.bridge))) out.push(`network ${n.name}: bridge ${n.driverState.bridge} missing`);
  const nft = await nftj(hostName);
  const inSet = ofKind(nft, 'set')
    .filter((x) => x.table === 'nsnet' && x.name === 'self')
    .flatMap((x) => (x.elem ?? []) as any[])
    .filter((e) => ownerOf(e.elem?.comment) === c.store.id)
    .map((e) => String(e.elem.val.concat[0]))
    .sort();
  const ifaces = s.networks
    .flatMap((n) => (n.driver === 'bridge' ? [String(n.driverState.bridge)] : n.driver === 'routed' ? [`${n.driverState.prefix}*`] : []))
    .sort();
  if (JSON.stringify(inSet) !== JSON.stringify(ifaces)) out.push(`nsnet's self set holds [${inSet}] of this store's, its networks [${ifaces}]`);
  const havePorts = nftPorts(nft);
  if (JSON.stringify(havePorts) !== JSON.stringify(wantPorts)) out.push(`DNAT elements [${havePorts.join(', ')}], the store [${wantPorts.join(', ')}]`);
  const dirs = ls(c.filesDir).map((d) => join(c.filesDir, d)).sort();
  // A container sandbox shares its owner's files; an external one has none.
  const storeDirs = [...new Set(s.sandboxes.filter((x) => x.netnsKind !== 'container' && x.filesDir).map((x) => x.filesDir))].sort();
  if (JSON.stringify(dirs) !== JSON.stringify(storeDirs)) out.push(`files dirs [${dirs.map((d) => d.slice(-8))}], the store [${storeDirs.map((d) => d.slice(-8))}]`);
  const etc = ls(c.etcDir).filter((n) => n.startsWith(prefix)).sort();
  if (JSON.stringify(etc) !== JSON.stringify(names)) out.push(`${c.etcDir} holds [${etc}], the store [${names}]`);
  return out;
}
