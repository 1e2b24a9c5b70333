// Compares what the store says an endpoint or a network is with what the
// kernel has, and lists the differences (nothing is changed): the
// sandbox's interface, its MAC, state, addresses and default route here,
// the host side by the driver. A CNI CHECK and STATUS are built on these.
import { toBig } from '../ipaddr.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { CnmContext } from './context.js';

const sameAddress = (a: string, b: string) => toBig(a)?.n === toBig(b)?.n;

/** The differences between an endpoint's record and the kernel; [] when they agree. */
export async function checkEndpoint(ctx: CnmContext, epRec: EndpointRecord): Promise<string[]> {
  ctx.live();
  const cur = await ctx.store.view((t) => {
    const ep = t.endpoint(epRec.id);
    return ep ? { ep, net: t.network(ep.networkId)!, sb: ep.sandboxId ? t.sandbox(ep.sandboxId) : null } : null;
  });
  if (!cur) return [`endpoint ${epRec.name} no longer exists`];
  const { ep, net, sb } = cur;
  if (!sb) return [`endpoint ${ep.name} is not joined to a sandbox`];
  const problems: string[] = [];
  const driver = ctx.driver(net.driver);
  if (driver.check) problems.push(...(await driver.check(ctx, net, ep)));
  if (!ep.ifname) return problems;
  try {
    await ctx.inNetns(sb, async (ns) => {
      const link = await ns.links.find(ep.ifname!);
      if (!link) return void problems.push(`interface ${ep.ifname} is missing from ${sb.netnsPath}`);
      if (ep.mac && link.mac !== ep.mac) problems.push(`interface ${ep.ifname} has MAC ${link.mac}, not ${ep.mac}`);
      if (!link.up) problems.push(`interface ${ep.ifname} is down`);
      const have = await ns.addresses.list({ dev: link.ifindex });
      for (const a of ep.addresses) {
        const [addr, len] = a.split('/');
        if (!have.some((h) => sameAddress(h.address, addr!) && h.prefixlen === Number(len))) problems.push(`interface ${ep.ifname} lacks address ${a}`);
      }
      if (ep.gatewayEndpoint && !net.internal) {
        const routes = await ns.routes.list();
        for (const s of net.subnets) {
          if (!s.gateway) continue;
          const fam = s.gateway.includes(':') ? 6 : 4;
          if (!routes.some((r) => r.family === fam && r.dst === 'default' && r.gateway !== null && sameAddress(r.gateway, s.gateway!)))
            problems.push(`no default route via ${s.gateway} in ${sb.netnsPath}`);
        }
      }
    });
  } catch (e) {
    problems.push(`namespace ${sb.netnsPath}: ${(e as Error).message}`);
  }
  return problems;
}

/** The differences between a network's record and its kernel objects (the driver's to say); [] when they agree. */
export async function checkNetwork(ctx: CnmContext, net: NetworkRecord): Promise<string[]> {
  ctx.live();
  const d = ctx.knownDriver(net.driver);
  if (!d) return [`network ${net.name}: driver ${net.driver} is not registered`];
  return d.checkNetwork ? d.checkNetwork(ctx, net) : [];
}
