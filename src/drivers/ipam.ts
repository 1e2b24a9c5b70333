// Addresses only: a network whose endpoints are reservations of its
// subnets that never reach the kernel. The nsnet-ipam CNI plugin keeps its
// allocations on such networks, for plugins that make the interfaces
// themselves (the reference bridge or macvlan plugin).
import { ValidationError } from '../errors.js';
import { inertDriver, type Driver } from './driver.js';

export const ipamDriver: Driver = {
  ...inertDriver('ipam', 'own'),
  usesIpam: true,
  singleton: false,
  validateNetwork(n) {
    const keys = Object.keys(n.options);
    if (keys.length) throw new ValidationError(`option ${keys[0]}`, n.options[keys[0]!], 'the ipam driver takes no options');
    return {};
  },
  join(_ctx, n, ep) {
    throw new ValidationError('endpoint', ep.name, `network ${n.name} only hands out addresses (driver ipam): its endpoints join no sandbox`);
  },
};
