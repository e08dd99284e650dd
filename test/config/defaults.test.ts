// Tests for loadConfig defaults, derived values, parsing forms and freezing.
import { describe, expect, test } from "bun:test";
import { loadConfig, Secret } from "../../src/config/index.ts";

const host = () => "Build-Box.example.com";

describe("defaults", () => {
  test("an empty environment yields the documented defaults", () => {
    const c = loadConfig({}, { hostname: host });
    expect(c).toEqual({
      server: {
        host: "0.0.0.0",
        port: 3000,
        publicUrl: "http://localhost:3000",
        wsUrl: "ws://localhost:3000/ws",
        wsIdleTimeoutSeconds: 120,
        rateLimitPerConnection: 100,
        shutdownGraceMs: null,
      },
      storage: { dataDir: "./data", mediatorKeysFile: "data/mediator-keys.json" },
      log: { level: "info", pretty: false, moduleLevels: {} },
      limits: {
        maxMessageBytes: 1024 * 1024,
        mailboxMaxMessages: 10_000,
        mailboxMaxBytes: 100 * 1024 * 1024,
        messageTtlSeconds: 7 * 24 * 3600,
        replayWindowSeconds: 3600,
        memorySoftLimitBytes: 128 * 1024 * 1024,
        mailboxActorIdleMs: 10_000,
        mailboxMaxActors: 1000,
        unpackWorkers: 0,
      },
      mediation: { policy: "open", allowlist: [] },
      admin: { token: null },
      cluster: {
        enabled: false,
        natsUrls: [],
        nodeId: "build-box-example-com",
        partitions: 64,
        replicas: 3,
        heartbeatIntervalMs: 250,
        suspectAfterMs: 750,
        deadAfterMs: 1500,
        leaseTtlMs: 1500,
        requestTimeoutMs: 2000,
      },
      delivery: {
        breakerFailureThreshold: 5,
        breakerOpenMs: 300_000,
        retryBaseMs: 1000,
        retryCapMs: 300_000,
        maxAttempts: 8,
        callTimeoutMs: 10_000,
        concurrencyPerDestination: 4,
        webhookCoalesceMs: 0,
      },
      tracing: { enabled: false, tracesUrl: null, serviceName: "haven" },
    });
  });

  test("blank and whitespace-only values count as unset", () => {
    const c = loadConfig({ PORT: "", HOST: "   ", ADMIN_TOKEN: "", NATS_URL: " " }, { hostname: host });
    expect(c.server.port).toBe(3000);
    expect(c.server.host).toBe("0.0.0.0");
    expect(c.admin.token).toBeNull();
    expect(c.cluster.enabled).toBe(false);
  });

  test("the result is deeply frozen", () => {
    const c = loadConfig({ MEDIATION_POLICY: "allowlist", MEDIATION_ALLOWLIST: "did:example:a" });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.server)).toBe(true);
    expect(Object.isFrozen(c.mediation.allowlist)).toBe(true);
    expect(Object.isFrozen(c.log.moduleLevels)).toBe(true);
    expect(() => {
      (c.server as { port: number }).port = 1;
    }).toThrow();
  });

  test("NODE_ID defaults from the host name, falling back to 'node' when nothing usable remains", () => {
    expect(loadConfig({}, { hostname: () => "--Ünïcode--" }).cluster.nodeId).toBe("n-code--");
    expect(loadConfig({}, { hostname: () => "...." }).cluster.nodeId).toBe("node");
    expect(loadConfig({}, { hostname: () => "x".repeat(100) }).cluster.nodeId).toBe("x".repeat(63));
    expect(loadConfig({ NODE_ID: "n1" }, { hostname: host }).cluster.nodeId).toBe("n1");
  });
});

describe("derived values", () => {
  test("PUBLIC_URL default follows PORT; https becomes wss; path prefix and trailing slash", () => {
    expect(loadConfig({ PORT: "8080" }).server.publicUrl).toBe("http://localhost:8080");
    const c = loadConfig({ PUBLIC_URL: "https://Mediator.Example.com/haven/" });
    expect(c.server.publicUrl).toBe("https://mediator.example.com/haven");
    expect(c.server.wsUrl).toBe("wss://mediator.example.com/haven/ws");
    expect(loadConfig({ PUBLIC_URL: "https://m.example.com:8443" }).server.wsUrl).toBe("wss://m.example.com:8443/ws");
  });

  test("MEDIATOR_KEYS_FILE defaults under DATA_DIR", () => {
    expect(loadConfig({ DATA_DIR: "/var/lib/haven" }).storage.mediatorKeysFile).toBe("/var/lib/haven/mediator-keys.json");
    expect(loadConfig({ DATA_DIR: "/x", MEDIATOR_KEYS_FILE: "/etc/k.json" }).storage.mediatorKeysFile).toBe("/etc/k.json");
  });

  test("NATS_URL switches on cluster mode; duplicates and blank entries are dropped", () => {
    const c = loadConfig({ NATS_URL: "nats://a:4222, ,nats://b:4222,nats://a:4222,tls://u:p@c:4222" });
    expect(c.cluster.enabled).toBe(true);
    expect(c.cluster.natsUrls).toEqual(["nats://a:4222", "nats://b:4222", "tls://u:p@c:4222"]);
  });
});

describe("parsing forms", () => {
  test("sizes accept binary units and separators", () => {
    expect(loadConfig({ MAX_MESSAGE_BYTES: "512KiB" }).limits.maxMessageBytes).toBe(512 * 1024);
    expect(loadConfig({ MAX_MESSAGE_BYTES: "2 mib" }).limits.maxMessageBytes).toBe(2 * 1024 * 1024);
    expect(loadConfig({ MAX_MESSAGE_BYTES: "65_536" }).limits.maxMessageBytes).toBe(65536);
    expect(loadConfig({ MAILBOX_MAX_BYTES: "1GiB" }).limits.mailboxMaxBytes).toBe(1024 ** 3);
  });

  test("booleans, enums and levels are case-insensitive", () => {
    for (const t of ["true", "TRUE", "1", "yes", "on"]) expect(loadConfig({ LOG_PRETTY: t }).log.pretty).toBe(true);
    for (const f of ["false", "0", "No", "off"]) expect(loadConfig({ LOG_PRETTY: f }).log.pretty).toBe(false);
    expect(loadConfig({ LOG_LEVEL: "DEBUG" }).log.level).toBe("debug");
    expect(loadConfig({ LOG_LEVELS: "storage=debug, transport.ws = WARN" }).log.moduleLevels).toEqual({
      storage: "debug",
      "transport.ws": "warn",
    });
  });

  test("allowlist policy with DIDs; the admin token is wrapped in a Secret", () => {
    const c = loadConfig({
      MEDIATION_POLICY: "allowlist",
      MEDIATION_ALLOWLIST: "did:example:alice, did:peer:2.Ez6LSabc.Vz6Mkxyz.SeyJ0IjoiZG0ifQ==,did:web:a.example%3A8443:u",
      ADMIN_TOKEN: "0123456789abcdef",
    });
    expect(c.mediation).toEqual({
      policy: "allowlist",
      allowlist: ["did:example:alice", "did:peer:2.Ez6LSabc.Vz6Mkxyz.SeyJ0IjoiZG0ifQ==", "did:web:a.example%3A8443:u"],
    });
    expect(c.admin.token).toBeInstanceOf(Secret);
    expect(c.admin.token?.reveal()).toBe("0123456789abcdef");
  });
});
