// nsnet gc: a reconcile of this state dir's store that says what it found
// and did; with --orphans it also removes what no store's tag claims
// (interfaces named as nsnet names them, elements in nsnet's table).
// Another state dir's objects are never touched, only listed.
import type { Command } from './args.js';
import { CNM_FLAGS, JSON_OUT, withController } from './common.js';

export const gc: Command = {
  name: 'gc',
  summary: "make this store and the kernel agree, and say what was found; other stores' objects are only listed",
  flags: [
    { name: 'orphans', help: "also remove what no store claims: nsnet-named interfaces and nsnet's table elements without a store's tag" },
    JSON_OUT,
    ...CNM_FLAGS,
  ],
  run: (a) =>
    withController(a, async (c) => {
      const r = await c.gc({ orphans: a.bool('orphans') });
      if (a.bool('json')) {
        console.log(JSON.stringify(r, null, 2));
        return r.errors.length ? 1 : 0;
      }
      const say = (what: string, xs: string[]) => xs.length && console.log(`${what}: ${xs.join(', ')}`);
      for (const f of r.found) console.log(f);
      say("another store's interfaces (left alone)", r.foreignInterfaces);
      say(`interfaces no store claims${a.bool('orphans') ? '' : ' (left alone; --orphans removes them)'}`, r.orphanInterfaces);
      if (r.firewall?.foreignElements) console.log(`another store's elements in nsnet's table (left alone): ${r.firewall.foreignElements}`);
      if (r.firewall?.orphanElements)
        console.log(`elements no store claims: ${r.firewall.orphanElements}${r.firewall.orphansRemoved ? ', removed' : ' (left alone; --orphans removes them)'}`);
      for (const e of r.errors) console.error(`error: ${e}`);
      return r.errors.length ? 1 : 0;
    }),
};
