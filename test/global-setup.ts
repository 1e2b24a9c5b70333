// Refuses to run the privileged suites outside the sandbox (scripts/sandbox.mjs),
// where they could change the host's network.
export default function setup(): void {
  if (process.env.NSNET_IN_SANDBOX !== '1') {
    throw new Error('run the tests with `npm test`: they must run inside scripts/sandbox.mjs (a private network namespace)');
  }
}
