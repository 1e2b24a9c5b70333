#!/usr/bin/env node
// The `nsnet` command: Docker's habits for sandboxes and networks (run,
// exec, network, sandbox, demo), and `ip`'s for the low-level views.
import { UsageError } from './args.js';
import { dispatch, lookup } from './commands.js';
import { userMessage } from './common.js';
import { usageLine } from './help.js';

dispatch(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) {
      // Exit code 2 for a command line that does not parse, as getopt-based tools do.
      const node = lookup(e.path);
      console.error(`nsnet: ${e.message}\n${node ? `${usageLine(node, e.path)}\n` : ''}See 'nsnet ${e.path ? `${e.path} ` : ''}--help'.`);
      process.exit(2);
    }
    // One line for the user; the whole error, stack and causes, on request.
    console.error(`nsnet: ${userMessage(e)}`);
    if (process.env.NSNET_DEBUG) console.error(e);
    process.exit(1);
  },
);
