// The underlay and etcd the multi-host tests share with the overlay benchmark.
export { Etcd, underlay, underlayNet, type Underlay } from '../bench/lib/etcd.js';
