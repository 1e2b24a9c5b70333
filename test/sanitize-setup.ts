// Loaded into every test worker by scripts/sanitize.sh (NSNET_SANITIZE=1).
// vitest stops a worker with SIGTERM, which ends a process without running
// its exit handlers, LeakSanitizer's among them; exiting on SIGTERM lets
// LeakSanitizer check every test file's process.
process.once('SIGTERM', () => process.exit(0));
