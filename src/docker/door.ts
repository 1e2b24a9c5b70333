// The Docker front door: dockerd finds nsnet as a plugin by its socket in
// /run/docker/plugins (nsnet.sock: `docker network create -d nsnet
// --ipam-driver nsnet`), activates it, and calls its NetworkDriver and
// IpamDriver methods over HTTP there. The socket is root's alone (mode
// 0600, and each connection's peer checked with SO_PEERCRED), as dockerd
// is. Calls run concurrently; the Controller's store serialises what must
// be. One log line per call.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import type { DaemonContext, FrontDoor } from '../daemon/frontdoor.js';
import { listenUnix, peerUid } from '../daemon/unix.js';
import { NsnetError } from '../errors.js';
import { reconcilePools } from './reconcile.js';
import { ipamDriver } from './ipam.js';
import { networkDriver } from './network.js';
import { CONTENT_TYPE, parseBody, PluginError, type Body, type Method } from './protocol.js';

/** Where dockerd looks for the nsnet plugin (its plugin discovery reads /run/docker/plugins). */
export const DEFAULT_DOCKER_SOCKET = '/run/docker/plugins/nsnet.sock';
/** More than any call of Docker's carries. */
const MAX_BODY = 1 << 20;
/** How long close() waits for calls under way. */
const DRAIN_MS = 30_000;

const METHODS = new Map<string, Method>([
  ['/Plugin.Activate', async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] })],
  ...Object.entries(networkDriver).map(([k, m]) => [`/NetworkDriver.${k}`, m] as [string, Method]),
  ...Object.entries(ipamDriver).map(([k, m]) => [`/IpamDriver.${k}`, m] as [string, Method]),
]);

/** The status and text of a failed call: bad input is Docker's fault (400), the rest nsnet's (500). */
function failure(e: unknown): { status: number; message: string } {
  if (e instanceof PluginError) return { status: e.status, message: e.message };
  const code = (e as NsnetError)?.code;
  if (code === 'ERR_NSNET_INVALID') return { status: 400, message: (e as Error).message };
  return { status: 500, message: e instanceof Error ? e.message : String(e) };
}

/** The ids a call names, for its log line. */
function what(b: Body): string {
  const short = (k: string) => (typeof b[k] === 'string' && b[k] ? `${k.replace(/ID$/, '').toLowerCase()}=${String(b[k]).slice(0, 12)}` : '');
  return ['NetworkID', 'EndpointID', 'PoolID', 'Address', 'Pool'].map(short).filter(Boolean).join(' ');
}

export class DockerDoor implements FrontDoor {
  readonly name = 'docker';
  private server: Server | null = null;
  private readonly calls = new Set<Promise<void>>();

  constructor(readonly address: string = DEFAULT_DOCKER_SOCKET) {}

  async start(ctx: DaemonContext): Promise<void> {
    const found = await reconcilePools(ctx.controller);
    for (const line of found) ctx.log(`docker: ${line}`);
    const server = createServer((req, res) => {
      const call = this.serve(ctx, req, res);
      this.calls.add(call);
      void call.finally(() => this.calls.delete(call));
    });
    server.on('connection', (s: Socket) => {
      if (peerUid(s) === 0) return;
      ctx.log('docker: refused a connection from a process not running as root');
      const body = JSON.stringify({ Err: "only root may call nsnet's Docker plugin socket" });
      s.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: ${CONTENT_TYPE}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    });
    await listenUnix(server, this.address);
    this.server = server;
  }

  private async serve(ctx: DaemonContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = req.url ?? '';
    let body: Body = {};
    let reply: { status: number; json: object };
    try {
      if (req.method !== 'POST') throw new PluginError(405, `${req.method} ${url}: plugin calls are POSTs`);
      const method = METHODS.get(url);
      const raw = await readBody(req);
      // An unknown method is 404, Docker's sign of one a plugin does not implement.
      if (!method) throw new PluginError(404, `nsnet does not implement ${url.slice(1)}`);
      body = parseBody(raw);
      reply = { status: 200, json: await method(ctx.controller, body) };
    } catch (e) {
      const f = failure(e);
      reply = { status: f.status, json: { Err: f.message } };
    }
    const outcome = reply.status === 200 ? 'ok' : `${reply.status} ${(reply.json as { Err: string }).Err}`;
    ctx.log(`docker ${url.slice(1)} ${what(body)} -> ${outcome} (${(performance.now() - t0).toFixed(1)} ms)`);
    if (res.destroyed) return;
    res.writeHead(reply.status, { 'Content-Type': CONTENT_TYPE });
    res.end(JSON.stringify(reply.json));
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_MS)));
    await Promise.race([Promise.all([...this.calls]), bound]);
    clearTimeout(timer);
    server.closeAllConnections();
    await closed;
  }
}

/** A request's body, refused past MAX_BODY. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) {
        reject(new PluginError(413, `the request is larger than ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
