// nsnet cni: CNI from the command line.
import type { Group } from './args.js';
import { install } from './cni-install.js';

export const cni: Group = {
  name: 'cni',
  summary: "nsnet's CNI plugins for runtimes (install)",
  commands: [install],
};
