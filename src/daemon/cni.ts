// The CNI front door: the socket the native shim (native/shim/shim.c)
// forwards plugin calls to. Each connection carries one call:
//   request  "NSC1" u32le env_len, env_len bytes of NUL-terminated KEY=VALUE
//            (NSNET_PLUGIN and the CNI_* variables), then stdin until EOF
//   reply    "NSC1" u32le exit code, then the plugin's stdout until close
// Calls run concurrently; the Controller's store serialises what must be.
import { createServer, type Server, type Socket } from 'node:net';

import { CniError, ERR } from '../cni/errors.js';
import { NSNET_ERR } from '../cni/plugin/errors.js';
import { isPlugin, runPlugin, type CniReply, type PluginName } from '../cni/plugin/plugin.js';
import { PLUGIN_CURRENT } from '../cni/plugin/request.js';
import type { DaemonContext, FrontDoor } from './frontdoor.js';
import { listenUnix, peerUid } from './unix.js';

const MAGIC = Buffer.from('NSC1');
/** The most a call may carry: the shim's own limits (64 KiB of environment, 16 MiB of stdin). */
const MAX_REQUEST = (16 << 20) + (64 << 10) + 8;
/** How long close() waits for calls under way. */
const DRAIN_MS = 30_000;

export interface CniCall {
  plugin: PluginName;
  env: Record<string, string>;
  stdin: Buffer;
}

/** Decodes a request; a CniError (code 5) when it is not one. */
export function decodeCall(req: Buffer): CniCall {
  const bad = (why: string) => new CniError(ERR.IO, `malformed call from the nsnet shim: ${why}`);
  if (req.length < 8 || !req.subarray(0, 4).equals(MAGIC)) throw bad('no header');
  const envLen = req.readUInt32LE(4);
  if (8 + envLen > req.length) throw bad('the environment is cut short');
  const env: Record<string, string> = {};
  for (const kv of req.subarray(8, 8 + envLen).toString('utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i <= 0) continue;
    const k = kv.slice(0, i);
    // Only what the shim forwards: the plugin's name and the spec's variables.
    if (k === 'NSNET_PLUGIN' || k.startsWith('CNI_')) env[k] = kv.slice(i + 1);
  }
  const plugin = env.NSNET_PLUGIN ?? '';
  if (!isPlugin(plugin)) throw bad(`no plugin ${JSON.stringify(plugin)}`);
  delete env.NSNET_PLUGIN;
  return { plugin, env, stdin: req.subarray(8 + envLen) };
}

export function encodeReply(exit: number, stdout: string): Buffer {
  const head = Buffer.alloc(8);
  MAGIC.copy(head);
  head.writeUInt32LE(exit, 4);
  return Buffer.concat([head, Buffer.from(stdout)]);
}

const errorReply = (e: CniError) => encodeReply(1, `${JSON.stringify({ cniVersion: PLUGIN_CURRENT, ...e.toJSON() })}\n`);

/** One log line: the call, then what came of it. */
function logLine(plugin: string, r: CniReply, ms: number): string {
  const q = r.request;
  const what = [`net=${q.network ?? '-'}`, q.containerId && `container=${q.containerId}`, q.ifname && `ifname=${q.ifname}`, q.netns && `netns=${q.netns}`];
  const outcome = r.error ? `error ${r.error.code}: ${r.error.msg}` : ['ok', ...(r.addresses ?? [])].join(' ');
  return `cni ${r.command || '?'} ${plugin} ${what.filter(Boolean).join(' ')} -> ${outcome} (${ms.toFixed(1)} ms)`;
}

export class CniDoor implements FrontDoor {
  readonly name = 'cni';
  private server: Server | null = null;
  private readonly calls = new Set<Promise<void>>();
  private readonly sockets = new Set<Socket>();

  constructor(readonly address: string) {}

  async start(ctx: DaemonContext): Promise<void> {
    // Half-open: the shim ends its side after stdin, and still reads the answer.
    const server = createServer({ allowHalfOpen: true }, (s) => this.accept(ctx, s));
    await listenUnix(server, this.address);
    this.server = server;
  }

  private accept(ctx: DaemonContext, s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    s.on('error', () => {}); // a shim that went away: nothing to answer
    if (peerUid(s) !== 0) {
      ctx.log('cni: refused a connection from a process not running as root');
      s.end(errorReply(new CniError(NSNET_ERR.FAILED, "only root may call nsnet's CNI socket")));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    s.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_REQUEST) {
        s.end(errorReply(new CniError(ERR.IO, 'the call is larger than a CNI configuration may be')));
        s.destroy();
      } else chunks.push(d);
    });
    s.once('end', () => {
      if (size > MAX_REQUEST) return;
      const call = this.serve(ctx, Buffer.concat(chunks)).then((reply) => {
        if (!s.destroyed) s.end(reply);
      });
      this.calls.add(call);
      void call.finally(() => this.calls.delete(call));
    });
  }

  private async serve(ctx: DaemonContext, req: Buffer): Promise<Buffer> {
    const t0 = performance.now();
    let call: CniCall;
    try {
      call = decodeCall(req);
    } catch (e) {
      ctx.log(`cni: ${(e as Error).message}`);
      return errorReply(e as CniError);
    }
    const r = await runPlugin(call.plugin, call.env, call.stdin, async () => ctx.controller);
    ctx.log(logLine(call.plugin, r, performance.now() - t0));
    return encodeReply(r.exit, r.stdout);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    const drained = Promise.all([...this.calls]);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)));
    await Promise.race([drained, bound]);
    clearTimeout(timer);
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
