// nsnet cni: CNI from the command line.
import type { Group } from './args.js';
import { runtimeCommands } from './cni-runtime.js';

export const cni: Group = {
  name: 'cni',
  summary: "CNI networks run as a runtime runs them (cnitool's commands): any plugin in CNI_PATH, results cached as libcni caches them.",
  commands: [...runtimeCommands],
};
