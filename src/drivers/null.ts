// Docker's "none": the sandbox keeps its own namespace with only lo.
// Joining the null network adds nothing, so there is nothing to remove.
import { inertDriver } from './driver.js';

export const nullDriver = inertDriver('null', 'own');
