// Names served by `nsnet daemon` for a process that does not serve them
// itself (the nsnet CLI, an embedding runtime without dns: true): its
// controller tells the daemon, over the DNS door's socket, of each sandbox
// that becomes live, changes or goes, and waits for the daemon to have
// served it, so a sandbox's resolver answers before its first process
// runs and a sandbox that left stops resolving before the call returns.
// A new sandbox's resolver sockets are opened in its create's own kernel
// trip, as for a resolver in this process, and handed over to the daemon
// with its records in one line (SCM_RIGHTS) that is not answered: the
// daemon reads waiting lines before it answers any query (protocol.ts),
// and enters no namespace for it.
// Whether a daemon serves this store is found out before each create or
// join (a stat when there is none; one connection per process when there
// is), so a daemon that starts later serves the sandboxes made after.
import { closeSync, existsSync } from 'node:fs';
import net from 'node:net';

import type { Listening, ListenOptions } from '../netlink/sockets.js';
import { NsnetError } from '../errors.js';
import type { NetworkRecord, SandboxRecord } from '../store/store.js';
import type { SandboxLifecycle, SandboxState } from '../cnm/lifecycle.js';
import { DoorChannel, socketFd } from './channel.js';
import { RESOLVER_ADDRESS, RESOLVER_LISTEN, wantsResolver } from './policy.js';
import type { DoorReply, DoorRequest } from './protocol.js';

/** How long the daemon has to answer one request. */
const ASK_MS = 10_000;
const CONNECT_MS = 1000;

export class DaemonResolver implements SandboxLifecycle {
  readonly server = 'daemon';
  private chan: DoorChannel | null = null;
  private connecting: Promise<void> | null = null;
  private readonly waiting: ((r: DoorReply) => void)[] = [];

  constructor(
    private readonly path: string,
    private readonly storeId: string,
  ) {}

  async prepare(): Promise<void> {
    if (this.chan || !existsSync(this.path)) return;
    this.connecting ??= this.connect().finally(() => (this.connecting = null));
    await this.connecting;
  }

  private async connect(): Promise<void> {
    const s = net.connect(this.path);
    s.on('error', () => {});
    const up = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CONNECT_MS);
      s.once('connect', () => (clearTimeout(timer), resolve(true)));
      s.once('error', () => (clearTimeout(timer), resolve(false)));
    });
    if (!up || socketFd(s) === null) return void s.destroy();
    const chan: DoorChannel = new DoorChannel(
      s,
      (msg) => {
        const r = (msg && typeof msg.ok === 'boolean' ? msg : { ok: false, error: "the daemon's answer did not parse" }) as DoorReply;
        this.waiting.shift()?.(r);
        if (!this.waiting.length) chan.unref();
      },
      () => this.drop(chan),
    );
    chan.unref(); // an idle connection keeps no process alive
    this.chan = chan;
    // A daemon of another state dir does not serve this store's sandboxes.
    if (!(await this.ask({ op: 'hello', store: this.storeId })).ok) this.drop(chan);
  }

  /** Forgets a connection that broke: requests waiting on it fail. */
  private drop(chan: DoorChannel): void {
    chan.close();
    if (this.chan !== chan) return;
    this.chan = null;
    for (const w of this.waiting.splice(0)) w({ ok: false, error: 'the connection to the nsnet daemon broke' });
  }

  private ask(req: DoorRequest, fds: number[] = []): Promise<DoorReply> {
    const chan = this.chan;
    if (!chan) return Promise.resolve({ ok: false, error: 'no nsnet daemon serves names' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.drop(chan), ASK_MS); // drop() answers every request waiting on it
      this.waiting.push((r) => (clearTimeout(timer), resolve(r)));
      chan.ref(); // a process awaiting an answer must not exit under it
      if (!chan.send(req, fds)) this.drop(chan);
    });
  }

  serving(): boolean {
    return this.chan !== null;
  }

  resolver(sb: SandboxRecord, nets: Iterable<NetworkRecord>): string | null {
    return this.chan && wantsResolver(sb, nets) ? RESOLVER_ADDRESS : null;
  }

  /** The sockets go to the daemon: as fds, never taken by Node here. */
  readonly listenFds = true;

  listen(): ListenOptions[] {
    return this.chan ? RESOLVER_LISTEN : [];
  }

  async live(s: SandboxState, opened: Listening[] | number[] = []): Promise<void> {
    const sb = s.sandbox;
    const fds = opened as number[]; // listenFds: fds
    try {
      const chan = this.chan;
      // A daemon that went away (stopped, restarting) serves it when it starts again: it reads the store.
      if (!chan) return;
      if (fds.length) {
        const state = { sandbox: sb, endpoints: s.endpoints, networks: [...s.networks] };
        if (!chan.send({ op: 'live', store: this.storeId, sandbox: sb.id, state }, fds)) this.drop(chan);
        return;
      }
      const r = await this.ask({ op: 'live', store: this.storeId, sandbox: sb.id });
      if (!r.ok) throw NsnetError.state('ERR_NSNET_DNS', 'dns.live', sb.name, `the nsnet daemon could not serve sandbox ${sb.name}'s names: ${r.error}`);
    } finally {
      for (const fd of fds) closeSync(fd); // the daemon has copies of its own
    }
  }

  async gone(sb: SandboxRecord): Promise<void> {
    // Reconcile removes sandboxes before anything else asked: find out first.
    await this.prepare();
    // A daemon that is not there serves nothing of it; one that starts reads the store afresh.
    if (this.chan) await this.ask({ op: 'gone', store: this.storeId, sandbox: sb.id });
  }

  async close(): Promise<void> {
    if (this.chan) this.drop(this.chan);
  }
}
