// A dump that the kernel kept interrupting (NLM_F_DUMP_INTR: the table
// changed under it, every time the addon tried) means others are busy
// changing it, not that anything is wrong. It is tried again after a
// pause that grows, so a reader never fails because writers are at work.
import { NsnetError } from '../errors.js';

const PAUSES_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 1000, 1000, 2000, 2000, 4000];

export async function retryInterrupted<T>(dump: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await dump();
    } catch (e) {
      if (!(e instanceof NsnetError) || e.code !== 'EAGAIN' || i >= PAUSES_MS.length) throw e;
      // Jittered, so processes interrupting each other fall out of step.
      await new Promise((r) => setTimeout(r, PAUSES_MS[i]! * (0.5 + Math.random())));
    }
  }
}
