// nsnet cni: CNI from the command line.
import type { Group } from './args.js';
import { install } from './cni-install.js';
import { runtimeCommands } from './cni-runtime.js';

export const cni: Group = {
  name: 'cni',
  summary: "CNI from the command line: networks run as a runtime runs them (cnitool's commands, results cached as libcni caches them), and nsnet's plugins installed where runtimes look",
  commands: [...runtimeCommands, install],
};
