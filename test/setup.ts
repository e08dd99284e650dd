// Preloaded before every test file (bunfig.toml): suite-wide defaults that bunfig cannot express on this Bun.
import { setDefaultTimeout } from "bun:test";

// Cluster and process tests start real nats-server and node processes: a generous ceiling per test,
// never a timing assertion (those live in the benchmarks).
setDefaultTimeout(60_000);
