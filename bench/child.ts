// Runs one peer in the current (fresh, private) namespace and prints its
// figures as JSON. bench/run.ts starts one of these per run.
import { runFloor } from './peers/floor.js';
import { runIp } from './peers/ip.js';
import { runChurn, runLoop, runNsnet } from './peers/nsnet.js';
import { runController } from './peers/controller.js';
import { runCni } from './peers/cni.js';
import { runCniPlugin, runCniVersion, type CniPeer } from './peers/cni-plugin.js';
import { runNetavark } from './peers/netavark.js';
import { spawnCostMs } from './peers/exec.js';
import { runConcurrent, runOp } from './peers/concurrent.js';
import { runPyroute2 } from './peers/pyroute2.js';
import { runFloorOp } from './peers/floor.js';
import { runEventsBench } from './events.js';
import { runMicro } from './micro.js';
import { runLock } from './peers/lock.js';
import { runFloorChurn, runPoolChurn, runPoolCreate } from './peers/pool.js';
import { runDocker } from './peers/docker.js';
import { runDnsCreate, runDnsQuery } from './peers/dns.js';
import { runSoak } from './soak.js';
import * as nsnet from 'nsnet';
import { runOverlay } from './peers/overlay.js';

const [peer, json] = process.argv.slice(2);
const o = JSON.parse(json ?? '{}') as {
  n: number; explicit?: boolean; binary?: string; cycles?: number; ports?: boolean; published?: number; paired?: boolean; peer?: CniPeer; get?: boolean;
  driver?: 'bridge' | 'routed' | 'none'; uplink?: boolean;
  mode?: 'embedded' | 'daemon'; latencyN?: number; seconds?: number; window?: number; api?: 'controller' | 'netns'; maxTime?: number;
};
const run =
  peer === 'floor'
    ? runFloor({ n: o.n, explicit: o.explicit, binary: o.binary! })
    : peer === 'ip'
      ? runIp({ n: o.n, explicit: o.explicit })
      : peer === 'nsnet'
        ? runNsnet({ n: o.n, explicit: o.explicit })
        : peer === 'controller'
          ? runController({ n: o.n, explicit: o.explicit, ports: o.ports, published: o.published, paired: o.paired, driver: o.driver, uplink: o.uplink })
          : peer === 'cni'
            ? runCni({ n: o.n })
            : peer === 'cni+masq'
              ? runCni({ n: o.n, ipMasq: true })
              : peer === 'cni+portmap'
              ? runCni({ n: o.n, portmap: true })
              : peer === 'cni-plugin'
              ? runCniPlugin({ n: o.n, peer: o.peer! })
              : peer === 'cni-version'
              ? runCniVersion({ n: o.n })
              : peer === 'docker'
              ? runDocker({ n: o.n })
              : peer === 'netavark'
                ? runNetavark({ n: o.n })
                : peer === 'pyroute2'
                  ? runPyroute2({ n: o.n })
                  : peer === 'concurrent'
                    ? runConcurrent(o as unknown as Parameters<typeof runConcurrent>[0])
                    : peer === 'op'
                      ? runOp(o.n, o.get)
                      : peer === 'floor-op'
                        ? runFloorOp(o.n, o.binary!, o.get)
                : peer === 'spawn'
                  ? spawnCostMs().then((ms) => ({ ms }))
        : peer === 'events'
          ? runEventsBench({ n: o.n, runs: 1 }).then((r) => r[0])
        : peer === 'pool-create'
          ? runPoolCreate(o.n)
        : peer === 'pool-churn'
          ? runPoolChurn(o.cycles ?? 1000)
        : peer === 'floor-churn'
          ? runFloorChurn(o.cycles ?? 1000, o.binary!)
        : peer === 'lock'
          ? runLock()
        : peer === 'micro'
          ? runMicro({ maxTime: o.maxTime }).then((results) => ({ results }))
        : peer === 'overlay'
          ? runOverlay(o as unknown as Parameters<typeof runOverlay>[0])
        : peer === 'dns-create'
          ? runDnsCreate({ n: o.n, mode: o.mode! })
        : peer === 'dns-query'
          ? runDnsQuery({ sandboxes: o.n, latencyN: o.latencyN!, seconds: o.seconds!, window: o.window! })
        : peer === 'loop'
          ? runLoop(o.n)
          : peer === 'churn'
          ? runChurn(o.cycles ?? 1000)
          : peer === 'soak'
          ? nsnet.Netns.host().then((host) => runSoak(nsnet, { api: o.api ?? 'controller', cycles: o.cycles ?? 10_000, host, runDir: '/run/netns', net: 233 }))
          : Promise.reject(new Error(`unknown peer ${peer}`));
run.then(
  (r) => {
    // How long nsnet held the JS thread during this run (settling, waits for quick jobs, event deliveries).
    const st = nsnet.addonStats();
    const addon = { maxDrainCpuMs: st.maxDrainCpuUs / 1000, maxDrainMs: st.maxDrainUs / 1000, maxWaitMs: st.maxWaitUs / 1000, maxDeliveryCpuMs: st.maxWatchDeliveryCpuUs / 1000 };
    process.stdout.write(JSON.stringify({ ...(r as object), addon }));
    process.exit(0);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
