// A real dockerd (Debian's docker.io 20.10) for the tests, run as its own
// process inside a namespace that plays the host, in its default
// configuration (iptables on, so FORWARD's policy is drop) but with its
// data, exec and run dirs and its API socket private to the test; it
// starts its own containerd under them. The sandbox (scripts/sandbox.mjs)
// puts tmpfs over /run/docker (where dockerd finds plugins), /var/lib/docker
// and /etc/docker, so nothing of the host's Docker is read or changed.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, closeSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The 20.10 client; another docker may come first on PATH. */
export const DOCKER = '/usr/bin/docker';

export interface Dockerd {
  /** Runs the docker client against it; resolves with stdout, trimmed. */
  docker(...args: string[]): Promise<string>;
  /** Stops it (SIGTERM: it stops its containers, as without live-restore). */
  stop(): Promise<void>;
  /** Starts it again on the same data. */
  start(): Promise<void>;
  /** What it logged. */
  log(): string;
}

/** Starts dockerd in hostNetns with its dirs under dataRoot and runRoot (a short path: unix socket names are short). */
export async function startDockerd(o: { hostNetns: string; dataRoot: string; runRoot: string }): Promise<Dockerd> {
  const sock = join(o.runRoot, 'docker.sock');
  const logFile = join(o.dataRoot, '..', `${o.runRoot.split('/').pop()}.log`);
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const docker = async (...args: string[]) => (await run(DOCKER, ['-H', `unix://${sock}`, ...args], { maxBuffer: 16 << 20, timeout: 120_000 })).stdout.trim();
  const d: Dockerd = {
    docker,
    async start() {
      const fd = openSync(logFile, 'a');
      proc = spawn('nsenter', [`--net=${o.hostNetns}`, 'dockerd', '--data-root', o.dataRoot, '--exec-root', join(o.runRoot, 'exec'),
        '--pidfile', join(o.runRoot, 'docker.pid'), '-H', `unix://${sock}`], { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      const p = proc;
      exited = new Promise((resolve) => p.once('exit', () => resolve()));
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (p.exitCode !== null || p.signalCode !== null) throw new Error(`dockerd exited while starting:\n${d.log().slice(-3000)}`);
        if (await docker('version', '--format', '{{.Server.Version}}').then(() => true, () => false)) return;
        if (Date.now() > deadline) throw new Error(`dockerd did not answer within a minute:\n${d.log().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      p.kill('SIGTERM');
      const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
  await d.start();
  return d;
}

/** One plugin call as dockerd makes it (POST, JSON body) on socket; the status and the parsed reply. */
export function pluginCall(socket: string, method: string, body: unknown): Promise<{ status: number; json: any; type: string | undefined }> {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path: `/${method}`, method: 'POST', headers: { 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), type: res.headers['content-type'] });
        } catch (e) {
          reject(new Error(`${method}: the reply is not JSON: ${text}`, { cause: e }));
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
