// A dump the kernel keeps interrupting (EAGAIN "dump interrupted too
// often": others busy changing the table) is tried again after a growing
// pause, so a reader never fails because writers are at work; any other
// error, or one that outlasts every pause, is passed on.
import { describe, expect, test } from 'vitest';

import { NsnetError } from '../src/errors.js';
import { retryInterrupted } from '../src/netlink/dump.js';

const interrupted = () => NsnetError.system('links', Object.assign(new Error('dump interrupted too often'), { errno: 11 }));

describe('retryInterrupted', () => {
  test('an interrupted dump is tried again until it completes', async () => {
    let calls = 0;
    const r = await retryInterrupted(async () => {
      if (++calls < 5) throw interrupted();
      return 'listed';
    });
    expect([r, calls]).toEqual(['listed', 5]);
  });

  test('another error is passed on at once', async () => {
    let calls = 0;
    const e = await retryInterrupted(async () => {
      calls++;
      throw NsnetError.system('links', Object.assign(new Error('no such device'), { errno: 19 }));
    }).catch((x: NsnetError) => x);
    expect([e.code, calls]).toEqual(['ENODEV', 1]);
  });
});
