// Replication metrics from a real journal and nats-server: the JetStream publish histogram, pending entries and the
// outbox age (replication lag) while NATS is down, back to 0 once relayed; the journal is found by its path.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../../src/config/index.ts";
import { createNodeMetrics } from "../../src/node/metrics-wiring.ts";
import { createLogger } from "../../src/observability/index.ts";
import { ReplicatedJournal } from "../../src/replication/index.ts";
import { systemClock } from "../../src/runtime/clock.ts";
import { parseExposition } from "../observability/metrics-text.ts";
import { startNatsServer, type NatsCluster } from "../support/nats-cluster.ts";
import { natsConnect, record, tempDir, waitFor } from "./helpers.ts";

let nats: NatsCluster;
beforeAll(async () => {
  nats = await startNatsServer();
}, 30_000);
afterAll(async () => {
  await nats?.stop();
});

describe("journal metrics", () => {
  test("publish latency observed; pending and lag grow while NATS is down and return to 0 after the relay", async () => {
    const t = tempDir();
    const nc = await natsConnect(nats.url);
    const journalPath = join(t.dir, "journal.sqlite");
    const journal = await ReplicatedJournal.open({
      nc,
      journalPath,
      streamName: "MAIL_METRICS",
      replicas: 1,
      publishTimeoutMs: 300,
      relayBackoffMinMs: 20,
      relayBackoffMaxMs: 200,
      streamCheckIntervalMs: 200,
    });
    const config = loadConfig({ DATA_DIR: t.dir });
    const nm = createNodeMetrics({ config, logger: createLogger({ level: "silent" }), clock: systemClock });
    try {
      nm.attachJournal(journal);
      const scrape = async () => parseExposition(await nm.metrics.render()).series;

      for (let i = 0; i < 5; i++) expect(await journal.accept(record(i))).toBe("replicated");
      let m = await scrape();
      expect(m.get("haven_jetstream_publish_duration_seconds_count{}")).toBe(5);
      expect(m.get('haven_stage_duration_seconds_count{stage="replicate"}')).toBe(5); // the same measurement, as a stage
      expect(m.get("haven_jetstream_publish_duration_seconds_sum{}")).toBeGreaterThan(0);
      expect(m.get("haven_replication_pending_messages{}")).toBe(0);
      expect(m.get("haven_replication_lag_seconds{}")).toBe(0);

      // A paused server keeps the connection open: the publish times out, is counted as failed, and the record is
      // journaled instead.
      await nats.servers[0]!.pause();
      try {
        expect(await journal.accept(record(5))).toBe("journaled");
      } finally {
        nats.servers[0]!.resume();
      }
      expect((await scrape()).get("haven_jetstream_publish_failures_total{}") ?? 0).toBeGreaterThanOrEqual(1);
      await waitFor("the record journaled while paused is relayed", () => journal.status().outboxSize === 0);
      await nats.servers[0]!.kill("SIGKILL");
      for (let i = 6; i < 9; i++) expect(await journal.accept(record(i))).toBe("journaled");
      m = await scrape();
      expect(m.get("haven_replication_pending_messages{}")).toBe(3);
      // Lag is the oldest outbox entry's age: it keeps growing while nothing is relayed.
      let lag1 = 0;
      await waitFor("lag above 0", async () => (lag1 = (await scrape()).get("haven_replication_lag_seconds{}") ?? 0) > 0);
      await waitFor("lag grows", async () => ((await scrape()).get("haven_replication_lag_seconds{}") ?? 0) > lag1);
      // While NATS is away the relay publishes nothing: each attempt first checks the stream for lost records.

      await nats.servers[0]!.restart();
      await waitFor("outbox relayed", () => journal.status().outboxSize === 0, 30_000);
      m = await scrape();
      expect(m.get("haven_replication_pending_messages{}")).toBe(0);
      expect(m.get("haven_replication_lag_seconds{}")).toBe(0);
      expect(m.get("haven_jetstream_publish_duration_seconds_count{}")).toBeGreaterThanOrEqual(9);
    } finally {
      await nm.stop();
      await journal.close();
      const jsm = await jetstreamManager(nc).catch(() => undefined);
      await jsm?.streams.delete("MAIL_METRICS").catch(() => {});
      await nc.close();
      t.cleanup();
    }
  }, 90_000);
});
