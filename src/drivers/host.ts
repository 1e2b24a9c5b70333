// Docker's "host": the sandbox is the host's own namespace. Nothing is
// created on join, so leave and delete must not remove anything either.
import type { Driver } from './driver.js';

export const hostDriver: Driver = {
  name: 'host',
  sandboxKind: 'host',
  usesIpam: false,
  singleton: true,
  validateNetwork: () => ({}),
  createNetwork: async () => {},
  deleteNetwork: async () => {},
  prepareEndpoint: () => {},
  join: () => {},
  leave: async () => {},
};
