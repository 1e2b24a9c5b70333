#!/usr/bin/env node
// The plugins run in a process of their own: the native shim's slow path
// when no daemon answers (`node main.js nsnet|nsnet-ipam`, with the
// runtime's environment and stdin). The Controller is opened only if the
// command needs it, without reconciling (that is the daemon's, at its
// start: many of these processes may run at once), and the process waits
// for the kernel work its call started before it exits.
import { basename } from 'node:path';

import { Controller } from '../../cnm/controller.js';
import { CniError, ERR } from '../errors.js';
import { isPlugin, runPlugin } from './plugin.js';
import { PLUGIN_CURRENT } from './request.js';

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function main(): Promise<number> {
  const plugin = process.argv[2] ?? basename(process.argv[1] ?? '');
  if (!isPlugin(plugin)) {
    process.stderr.write(`nsnet: no CNI plugin ${JSON.stringify(plugin)} (nsnet, nsnet-ipam)\n`);
    return 2;
  }
  let stdin: Buffer;
  try {
    stdin = await readStdin();
  } catch (e) {
    const err = new CniError(ERR.IO, 'cannot read the network configuration from stdin', { details: (e as Error).message });
    process.stdout.write(`${JSON.stringify({ cniVersion: PLUGIN_CURRENT, ...err.toJSON() })}\n`);
    return 1;
  }
  let opening: Promise<Controller> | null = null;
  const open = () => (opening ??= Controller.open({ reconcile: false }));
  const reply = await runPlugin(plugin, process.env, stdin, open);
  process.stdout.write(reply.stdout);
  if (opening) {
    const c = await (opening as Promise<Controller>).catch(() => null);
    if (c) {
      for (const e of await c.settled()) process.stderr.write(`nsnet: ${e.message}\n`);
      c.close();
    }
  }
  return reply.exit;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`nsnet: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
