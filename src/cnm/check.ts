// Compares what the store says an endpoint or a network is with what the
// kernel has, and lists the differences (nothing is changed): the
// sandbox's interface, its MAC, state, addresses and default route here,
// the host side by the driver, its published ports by the firewall. A CNI
// CHECK and STATUS are built on these.
import { gatewayAddresses, gatewaysOf, lacking } from '../drivers/inside.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { CnmContext } from './context.js';
import { portSpecs } from './publish.js';

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
  for (const p of await ctx.firewall.unpublished(portSpecs([ep])))
    problems.push(`port ${p.hostIp?.includes(':') ? `[${p.hostIp}]` : p.hostIp}:${p.hostPort}->${p.containerIp}:${p.containerPort}/${p.protocol} is not published: its ${ctx.firewall.kind} elements are missing`);
  // A handed-off interface is named, addressed and routed inside by its runtime.
  if (!ep.ifname || sb.handoff) return problems;
  try {
    await ctx.inNetns(sb, async (ns) => {
      const link = await ns.links.find(ep.ifname!);
      if (!link) return void problems.push(`interface ${ep.ifname} is missing from ${sb.netnsPath}`);
      if (ep.mac && link.mac !== ep.mac) problems.push(`interface ${ep.ifname} has MAC ${link.mac}, not ${ep.mac}`);
      if (!link.up) problems.push(`interface ${ep.ifname} is down`);
      const gateway = ep.gatewayEndpoint && !net.internal;
      const [have, routes] = await Promise.all([ns.addresses.list({ dev: link.ifindex }), gateway ? ns.routes.list() : []]);
      const lacks = lacking(ep, link.ifindex, have, routes, gateway ? gatewayAddresses(net, gatewaysOf(driver, net)) : []);
      for (const a of lacks.addresses) problems.push(`interface ${ep.ifname} lacks address ${a}`);
      for (const g of lacks.gateways) problems.push(`no default route via ${g} in ${sb.netnsPath}`);
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
