// Names served by `nsnet daemon` for a process that does not serve them
// itself (the nsnet CLI, an embedding runtime without dns: true): its
// controller tells the daemon, over the DNS door's socket, of each sandbox
// that becomes live, changes or goes, and waits for the daemon to have
// served it, so a sandbox's resolver answers before its first process
// runs and a sandbox that left stops resolving before the call returns.
// Whether a daemon serves this store is found out before each create or
// join (a stat when there is none; one connection per process when there
// is), so a daemon that starts later serves the sandboxes made after.
import { existsSync } from 'node:fs';
import net from 'node:net';

import type { ListenOptions } from '../netlink/sockets.js';
import { NsnetError } from '../errors.js';
import type { NetworkRecord, SandboxRecord } from '../store/store.js';
import type { SandboxLifecycle, SandboxState } from '../cnm/lifecycle.js';
import { RESOLVER_ADDRESS, wantsResolver } from './policy.js';
import { lineReader, type DoorReply, type DoorRequest } from './protocol.js';

/** How long the daemon has to answer one request. */
const ASK_MS = 10_000;
const CONNECT_MS = 1000;

export class DaemonResolver implements SandboxLifecycle {
  readonly server = 'daemon';
  private sock: net.Socket | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiting: ((r: DoorReply) => void)[] = [];

  constructor(
    private readonly path: string,
    private readonly storeId: string,
  ) {}

  async prepare(): Promise<void> {
    if (this.sock || !existsSync(this.path)) return;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const s = net.connect(this.path);
    s.on('error', () => this.drop(s));
    s.on('close', () => this.drop(s));
    const read = lineReader((line) => {
      let r: DoorReply;
      try {
        r = JSON.parse(line) as DoorReply;
      } catch {
        r = { ok: false, error: `the daemon's answer did not parse: ${line.slice(0, 80)}` };
      }
      this.waiting.shift()?.(r);
      if (!this.waiting.length) s.unref();
    });
    s.on('data', (d: Buffer) => read(d) || s.destroy());
    const up = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CONNECT_MS);
      s.once('connect', () => (clearTimeout(timer), resolve(true)));
      s.once('error', () => (clearTimeout(timer), resolve(false)));
    });
    if (!up) return void s.destroy();
    s.unref(); // an idle connection keeps no process alive
    this.sock = s;
    // A daemon of another state dir does not serve this store's sandboxes.
    if (!(await this.ask({ op: 'hello', store: this.storeId })).ok) s.destroy();
  }

  /** Forgets a connection that broke: requests waiting on it fail. */
  private drop(s: net.Socket): void {
    if (this.sock !== s) return;
    this.sock = null;
    for (const w of this.waiting.splice(0)) w({ ok: false, error: 'the connection to the nsnet daemon broke' });
  }

  private ask(req: DoorRequest): Promise<DoorReply> {
    const s = this.sock;
    if (!s) return Promise.resolve({ ok: false, error: 'no nsnet daemon serves names' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => s.destroy(), ASK_MS); // drop() answers every request waiting on it
      this.waiting.push((r) => (clearTimeout(timer), resolve(r)));
      s.ref(); // a process awaiting an answer must not exit under it
      s.write(`${JSON.stringify(req)}\n`);
    });
  }

  serving(): boolean {
    return this.sock !== null;
  }

  resolver(sb: SandboxRecord, nets: Iterable<NetworkRecord>): string | null {
    return this.sock && wantsResolver(sb, nets) ? RESOLVER_ADDRESS : null;
  }

  listen(): ListenOptions[] {
    return []; // the daemon opens them, in its own process
  }

  async live(s: SandboxState): Promise<void> {
    const sb = s.sandbox;
    // A daemon that went away (stopped, restarting) serves it when it starts again: it reads the store.
    if (!this.sock) return;
    const r = await this.ask({ op: 'live', store: this.storeId, sandbox: sb.id });
    if (!r.ok) throw NsnetError.state('ERR_NSNET_DNS', 'dns.live', sb.name, `the nsnet daemon could not serve sandbox ${sb.name}'s names: ${r.error}`);
  }

  async gone(sb: SandboxRecord): Promise<void> {
    // Reconcile removes sandboxes before anything else asked: find out first.
    await this.prepare();
    // A daemon that is not there serves nothing of it; one that starts reads the store afresh.
    if (this.sock) await this.ask({ op: 'gone', store: this.storeId, sandbox: sb.id });
  }

  async close(): Promise<void> {
    this.sock?.destroy();
    this.sock = null;
  }
}
