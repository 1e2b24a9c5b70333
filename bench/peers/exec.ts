// Runs a program with JSON on stdin and waits for it: how a Node runtime
// drives CNI plugins and netavark.
import { spawn } from 'node:child_process';

export function run(cmd: string, args: string[], input: string, env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err || out}`))));
    p.stdin.on('error', () => {}); // a program that exits early closes its stdin: its exit code tells why
    p.stdin.end(input);
  });
}

/** The cost of starting a process from Node on this machine, for the table's footnote. */
export async function spawnCostMs(times = 20): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < times; i++) await run('/bin/true', [], '');
  return (performance.now() - t0) / times;
}
