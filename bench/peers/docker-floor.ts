// The floor of a Docker network plugin: a network and IPAM plugin ("floor")
// that answers each call of libnetwork's remote protocol with the least it
// can (no store, no kernel work: addresses counted up, veth pairs made
// beforehand and handed out in turn). A container on its network costs
// what Docker itself spends on any remote driver's network: its calls,
// moving and addressing the interface, its embedded DNS. What a real
// plugin's containers cost above this is the plugin's own.
//   node docker-floor.js <socket> <veth prefix>
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';

const [socket, prefix] = process.argv.slice(2) as [string, string];
let nextAddress = 2;
let nextVeth = 0;

const answer = (method: string, body: Record<string, any>): object => {
  switch (method) {
    case 'Plugin.Activate':
      return { Implements: ['NetworkDriver', 'IpamDriver'] };
    case 'NetworkDriver.GetCapabilities':
      return { Scope: 'local', ConnectivityScope: 'local' };
    case 'IpamDriver.GetDefaultAddressSpaces':
      return { LocalDefaultAddressSpace: 'floor', GlobalDefaultAddressSpace: 'floor-global' };
    case 'IpamDriver.RequestPool':
      return { PoolID: body.Pool, Pool: body.Pool, Data: {} };
    case 'IpamDriver.RequestAddress': {
      // The pool is a /16: its first address is the gateway, the rest are counted up.
      const base = String(body.PoolID).split('.').slice(0, 2).join('.');
      const n = body.Options?.RequestAddressType ? 1 : nextAddress++;
      return { Address: `${base}.${n >> 8}.${n & 255}/16`, Data: {} };
    }
    case 'NetworkDriver.CreateEndpoint':
      return { Interface: { MacAddress: `02:42:0a:ca:${((nextAddress >> 8) & 255).toString(16).padStart(2, '0')}:${(nextAddress & 255).toString(16).padStart(2, '0')}` } };
    case 'NetworkDriver.Join':
      return { InterfaceName: { SrcName: `${prefix}p${nextVeth++}`, DstPrefix: 'eth' }, Gateway: '10.202.0.1', StaticRoutes: [] };
    case 'NetworkDriver.EndpointOperInfo':
      return { Value: {} };
    default:
      return {};
  }
};

rmSync(socket, { force: true });
createServer((req, res) => {
  let raw = '';
  req.on('data', (d) => (raw += d));
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/vnd.docker.plugins.v1+json' });
    res.end(JSON.stringify(answer(req.url!.slice(1), raw ? JSON.parse(raw) : {})));
  });
}).listen(socket, () => process.stderr.write('floor: listening\n'));
