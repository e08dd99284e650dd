// Child entry for cluster e2e nodes: test/support/node-process.ts strips NATS_URL, MEDIATOR_KEYS_FILE and sets its own
// PUBLIC_URL, so the cluster settings travel as E2E_* variables and are put in place here before src/main.ts loads.
for (const name of ["NATS_URL", "MEDIATOR_KEYS_FILE", "PUBLIC_URL"] as const) {
  const value = process.env[`E2E_${name}`];
  if (value !== undefined) process.env[name] = value;
}
await import("../../src/main.ts");
export {};
