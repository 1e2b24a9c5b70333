#!/usr/bin/env node
// The `nsnet` command: Docker's habits for sandboxes and networks (run,
// exec, network, sandbox, demo), and `ip`'s for the low-level views.
import { NsnetError } from '../errors.js';
import { UsageError } from './args.js';
import { dispatch } from './commands.js';

dispatch(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof UsageError) {
      // Exit code 2 for a command line that does not parse, as getopt-based tools do.
      console.error(`nsnet: ${e.message}\nSee 'nsnet ${e.path ? `${e.path} ` : ''}--help'.`);
      process.exit(2);
    }
    console.error(e instanceof NsnetError ? `nsnet: ${e.message}` : e);
    process.exit(1);
  },
);
