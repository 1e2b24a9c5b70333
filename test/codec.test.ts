// Builds and runs the C++ unit tests of the pure netlink codec
// (native/test/codec_test.cc and sockdiag_test.cc over native/nl/nl.cc,
// rtnl.cc, nft.cc and sockdiag.cc) under
// AddressSanitizer and UndefinedBehaviorSanitizer. Needs only g++: no root,
// no network namespace, no addon, no network.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { expect, test } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const codec = ['native/nl/nl.cc', 'native/nl/rtnl.cc', 'native/nl/nft.cc', 'native/nl/sockdiag.cc'].map((p) => join(root, p));
const common = ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', '-I', join(root, 'native/nl')];
// -fno-sanitize-recover: any UB report fails the run. -fno-builtin-memcpy:
// every memcpy goes through ASan's interceptor, which checks the full range.
const sanitizers = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-builtin-memcpy', '-fno-omit-frame-pointer'];

interface Result {
  code: number | null;
  output: string;
  stdout: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, output, stdout }));
  });
}

for (const [name, what] of [
  ['codec_test', 'the netlink codec unit tests (builder, parse, MsgIter, ACKs, rtnl and nf_tables encoders and decoders, nft byte-exact)'],
  ['sockdiag_test', "the sock_diag codec's unit tests (dump requests, SOCK_DESTROY, every family's answers, /proc/net/raw and sockstat)"],
] as const) {
  test(`${what} all pass under ASan and UBSan`, async () => {
    const dir = await mkdtemp(join(tmpdir(), `nsnet-${name}-`));
    try {
      const bin = join(dir, name);
      const sources = [join(root, `native/test/${name}.cc`), ...codec];
      let built = await run('g++', [...common, ...sanitizers, ...sources, '-o', bin]);
      if (built.code !== 0) {
        // A toolchain without the sanitizer runtimes: still run the tests.
        console.warn(`${name}: building without sanitizers:\n${built.output}`);
        built = await run('g++', [...common, ...sources, '-o', bin]);
      }
      expect(built.code, built.output).toBe(0);

      // Leak checking needs ptrace, which a sandbox may forbid; the codec owns
      // no heap memory beyond std::string, and the fuzzer checks leaks anyway.
      const result = await run(bin, [], { ...process.env, ASAN_OPTIONS: 'detect_leaks=0', UBSAN_OPTIONS: 'print_stacktrace=1' });
      expect(result.code, result.output).toBe(0);
      const summary = /^(\d+) passed, (\d+) failed$/m.exec(result.stdout);
      expect(summary, result.output).not.toBeNull();
      expect(Number(summary![1])).toBeGreaterThan(0);
      expect(Number(summary![2]), result.output).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
}
