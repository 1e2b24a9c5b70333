// Docker's "host": the sandbox is the host's own namespace. Nothing is
// created on join, so leave and delete must not remove anything either.
import { inertDriver } from './driver.js';

export const hostDriver = inertDriver('host', 'host');
