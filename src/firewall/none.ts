// The `none` backend: nsnet leaves the host's firewall alone, as netavark's
// fwnone does. Networks are accepted and get no isolation, NAT or
// masquerade from nsnet (the host's own rules, if any, decide). Published
// ports are refused rather than accepted and ignored: with nothing to
// forward them, a port the endpoint reports as published would be a lie,
// and a runtime relying on it would find out only when traffic fails.
import type { Batch } from '../netlink/batch.js';
import { cannotPublish, type FirewallBackend, type FirewallReport, type PortSpec } from './backend.js';

export class NoFirewall implements FirewallBackend {
  readonly kind = 'none';
  readonly publishes = false;
  readonly canStage = false;

  async setupNetwork(): Promise<void> {}
  async teardownNetwork(): Promise<void> {}

  async publish(ports: PortSpec[]): Promise<void> {
    if (ports.length) throw cannotPublish(this.kind);
  }

  /** Nothing was published, so nothing is left to take back. */
  async unpublish(): Promise<void> {}

  /** Nothing is ever published here. */
  async unpublished(ports: PortSpec[]): Promise<PortSpec[]> {
    return [...ports];
  }

  stage(_b: Batch, ports: PortSpec[]): void {
    if (ports.length) throw cannotPublish(this.kind);
  }

  lost(): boolean {
    return false;
  }

  async reconcile(): Promise<FirewallReport> {
    return { rebuilt: false, dropped: false, elementsRemoved: 0, elementsAdded: 0, foreignElements: 0, orphanElements: 0, orphansRemoved: 0, forwardDrops: [] };
  }
}
