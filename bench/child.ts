// Runs one peer in the current (fresh, private) namespace and prints its
// figures as JSON. bench/run.ts starts one of these per run.
import { runFloor } from './peers/floor.js';
import { runIp } from './peers/ip.js';
import { runChurn, runLoop, runNsnet } from './peers/nsnet.js';

const [peer, json] = process.argv.slice(2);
const o = JSON.parse(json ?? '{}') as { n: number; explicit?: boolean; binary?: string; cycles?: number };
const run =
  peer === 'floor'
    ? runFloor({ n: o.n, explicit: o.explicit, binary: o.binary! })
    : peer === 'ip'
      ? runIp({ n: o.n, explicit: o.explicit })
      : peer === 'nsnet'
        ? runNsnet({ n: o.n, explicit: o.explicit })
        : peer === 'loop'
          ? runLoop(o.n)
          : peer === 'churn'
          ? runChurn(o.cycles ?? 1000)
          : Promise.reject(new Error(`unknown peer ${peer}`));
run.then(
  (r) => {
    process.stdout.write(JSON.stringify(r));
    process.exit(0);
  },
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
