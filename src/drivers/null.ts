// Docker's "none": the sandbox keeps its own namespace with only lo.
// Joining the null network adds nothing, so there is nothing to remove.
import type { Driver } from './driver.js';

export const nullDriver: Driver = {
  name: 'null',
  sandboxKind: 'own',
  usesIpam: false,
  singleton: true,
  validateNetwork: () => ({}),
  createNetwork: async () => {},
  deleteNetwork: async () => {},
  prepareEndpoint: () => {},
  join: () => {},
  leave: async () => {},
};
