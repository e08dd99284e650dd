// Entry point (`bun run src/main.ts`): load the configuration from the environment, start a node, stop on signals.
import { ConfigError, loadConfig } from "./config/index.ts";
import { createNode, type HavenNode } from "./node/index.ts";

/** Exit codes: 2 = bad configuration, 1 = failed to start or to stop cleanly. */
const EXIT_CONFIG = 2;
const EXIT_FAILURE = 1;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`haven: invalid configuration (${err.problems.length} problem${err.problems.length === 1 ? "" : "s"}):`);
      for (const p of err.problems) {
        const value = p.value === undefined ? "" : `=${JSON.stringify(p.value)}`;
        console.error(`  - ${p.variable}${value}: expected ${p.expected}${p.detail ? ` (${p.detail})` : ""}`);
      }
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }

  let node: HavenNode;
  try {
    node = await createNode(config);
  } catch (err) {
    // Start-up errors (identity file permissions, port in use, database) carry no key material.
    console.error(`haven: failed to start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EXIT_FAILURE);
  }

  console.log(`Haven mediator listening on ${config.server.host}:${node.port}`);
  console.log(`URL:            ${node.url}`);
  console.log(`WebSocket:      ${node.wsUrl}`);
  console.log(`DID:            ${node.did}`);
  console.log(`Invitation URL: ${node.invitationUrl}`);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      // A second signal means "now": skip the drain.
      console.error(`haven: ${signal} again, exiting immediately`);
      process.exit(EXIT_FAILURE);
    }
    stopping = true;
    console.log(`haven: ${signal} received, stopping gracefully`);
    node.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`haven: error while stopping: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

await main();
