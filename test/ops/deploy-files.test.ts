// Deployment files checked without a Docker engine: compose, Kubernetes manifests, Prometheus and Grafana wiring.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join, posix } from "node:path";
import { checkNodeId, isNatsUrl } from "../../src/config/formats.ts";
import { CONFIG_VARS } from "../../src/config/vars.ts";
import { exposedMetricNames, metricNamesIn } from "../observability/metrics-text.ts";

const ROOT = join(import.meta.dir, "../..");
const CLUSTER = join(ROOT, "cluster");
type Obj = Record<string, any>;
const read = (p: string) => readFileSync(join(CLUSTER, p), "utf8");
const yaml = (p: string): Obj => Bun.YAML.parse(read(p)) as Obj;
/** All documents of a (possibly multi-document) YAML file. */
const docs = (p: string): Obj[] => {
  const v = Bun.YAML.parse(read(p)) as Obj | Obj[];
  return (Array.isArray(v) ? v : [v]).filter((d) => d !== null);
};
/** Variables Haven reads, plus Bun's own. */
const KNOWN_ENV = new Set([...Object.keys(CONFIG_VARS), "BUN_RUNTIME_TRANSPILER_CACHE_PATH", "NODE_ENV"]);
const DOCKERFILE_UID = Number(/--uid (\d+)/.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))?.[1]);

describe("compose.yaml", () => {
  const compose = yaml("compose.yaml");
  const services: Record<string, Obj> = compose.services;
  const nats = Object.keys(services).filter((n) => /^nats-\d$/.test(n));
  const havens = Object.keys(services).filter((n) => /^haven-\d$/.test(n));
  const namedVolumes = new Set(Object.keys(compose.volumes ?? {}));
  const mounts = (s: Obj) => (s.volumes ?? []).map((v: string) => v.split(":")) as string[][];

  test("3 NATS servers, 3 Haven nodes, Prometheus and Grafana", () => {
    expect(nats).toEqual(["nats-1", "nats-2", "nats-3"]);
    expect(havens).toEqual(["haven-1", "haven-2", "haven-3"]);
    expect(services.prometheus).toBeDefined();
    expect(services.grafana).toBeDefined();
  });

  test("NATS: one JetStream cluster, every server routes to all, each with its own store volume", () => {
    const clusterNames = new Set<string>();
    for (const name of nats) {
      const cmd: string[] = services[name]!.command;
      const arg = (flag: string) => cmd[cmd.indexOf(flag) + 1];
      expect(cmd).toContain("--js");
      expect(arg("--name")).toBe(name);
      clusterNames.add(arg("--cluster_name")!);
      expect(arg("--routes")!.split(",").sort()).toEqual(nats.map((n) => `nats://${n}:6222`));
      const store = mounts(services[name]!).find((m) => m[1] === arg("--sd"));
      expect([name, store !== undefined && namedVolumes.has(store[0]!)]).toEqual([name, true]);
      expect(services[name]!.healthcheck.test.join(" ")).toContain("/healthz");
    }
    expect(clusterNames.size).toBe(1);
  });

  test("Haven nodes: one image, known env vars, unique ids, all NATS servers, own data volume, shared identity", () => {
    const images = new Set(havens.map((n) => services[n]!.image));
    expect(images.size).toBe(1);
    const build = services["haven-1"]!.build;
    expect(existsSync(join(CLUSTER, build.context, build.dockerfile))).toBe(true);
    const ids = new Set<string>();
    const dataVolumes = new Set<string>();
    const identityVolumes = new Set<string>();
    const hostPorts = new Set<string>();
    for (const name of havens) {
      const s = services[name]!;
      const env: Record<string, string> = s.environment;
      for (const k of Object.keys(env)) expect([name, k, KNOWN_ENV.has(k)]).toEqual([name, k, true]);
      expect(checkNodeId(env.NODE_ID!).ok).toBe(true);
      ids.add(env.NODE_ID!);
      const urls = env.NATS_URL!.split(",");
      for (const u of urls) expect(isNatsUrl(u)).toBe(true);
      expect(urls.map((u) => new URL(u).host).sort()).toEqual(nats.map((n) => `${n}:4222`));
      const data = mounts(s).find((m) => m[1] === env.DATA_DIR);
      expect(data !== undefined && namedVolumes.has(data[0]!)).toBe(true);
      dataVolumes.add(data![0]!);
      const identity = mounts(s).find((m) => m[1] === posix.dirname(env.MEDIATOR_KEYS_FILE!));
      expect(identity !== undefined && namedVolumes.has(identity[0]!)).toBe(true);
      identityVolumes.add(identity![0]!);
      const [hostPort, containerPort] = (s.ports[0] as string).split(":").slice(-2);
      expect(containerPort).toBe(env.PORT);
      hostPorts.add(hostPort!);
      expect(s.healthcheck.test.join(" ")).toContain(`127.0.0.1:${env.PORT}/health/ready`);
      expect(new URL(env.PUBLIC_URL!).port).toBe(hostPort!);
    }
    expect([ids.size, dataVolumes.size, hostPorts.size, identityVolumes.size]).toEqual([3, 3, 3, 1]);
  });

  test("start order: the identity volume is prepared, haven-1 creates the identity, the others wait for it", () => {
    expect(services["haven-1"]!.depends_on["identity-init"].condition).toBe("service_completed_successfully");
    for (const n of nats) expect(services["haven-1"]!.depends_on[n].condition).toBe("service_healthy");
    for (const n of ["haven-2", "haven-3"]) expect(services[n]!.depends_on["haven-1"].condition).toBe("service_healthy");
    expect(services["identity-init"]!.command.join(" ")).toContain(`chown ${DOCKERFILE_UID}:`);
  });

  test("every named volume is declared and every bind-mounted file exists", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [source] of mounts(s)) {
        if (source!.startsWith(".")) expect([name, source, existsSync(join(CLUSTER, source!))]).toEqual([name, source, true]);
        else expect([name, source, namedVolumes.has(source!)]).toEqual([name, source, true]);
      }
    }
  });

  test("Prometheus loads the mounted rules and scrapes every Haven node on its port", () => {
    const prom = services.prometheus!;
    const configPath = /--config.file=(\S+)/.exec(prom.command.join(" "))![1]!;
    const byTarget = new Map(mounts(prom).map((m) => [m[1], m[0]]));
    expect(byTarget.get(configPath)).toBe("./prometheus/prometheus.yml");
    const config = yaml("prometheus/prometheus.yml");
    for (const rf of config.rule_files as string[]) {
      const inContainer = posix.join(posix.dirname(configPath), rf);
      expect(byTarget.get(inContainer)).toBe(`./prometheus/${rf}`);
    }
    const job = (config.scrape_configs as Obj[]).find((j) => j.job_name === "haven")!;
    expect(job.metrics_path).toBe("/metrics");
    expect([...job.static_configs[0].targets].sort()).toEqual(havens.map((n) => `${n}:${services[n]!.environment.PORT}`));
  });

  test("Grafana gets the Prometheus data source and the Haven dashboard where its provider looks", () => {
    const g = services.grafana!;
    const byTarget = new Map(mounts(g).map((m) => [m[1], m[0]]));
    expect(byTarget.get("/etc/grafana/provisioning")).toBe("./grafana/provisioning");
    const provider = yaml("grafana/provisioning/dashboards/haven.yml").providers[0];
    expect(byTarget.get(posix.join(provider.options.path, "haven.json"))).toBe("./grafana/haven.json");
    const ds = yaml("grafana/provisioning/datasources/prometheus.yml").datasources[0];
    expect(ds.type).toBe("prometheus");
    expect(ds.url).toBe("http://prometheus:9090");
    expect(services.prometheus!.ports[0]).toEndWith(":9090");
  });

  test("docker compose config accepts the file (when the compose plugin is installed)", () => {
    const docker = Bun.which("docker");
    const probe = docker ? Bun.spawnSync([docker, "compose", "version"], { stdout: "ignore", stderr: "ignore" }) : undefined;
    if (probe?.exitCode !== 0) {
      console.log("docker compose not available: structural checks only");
      return;
    }
    const r = Bun.spawnSync([docker!, "compose", "-f", join(CLUSTER, "compose.yaml"), "config", "--quiet"], { stderr: "pipe" });
    expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
  });
});

describe("k8s", () => {
  const dir = join(CLUSTER, "k8s");
  const all = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") && f !== "nats-values.yaml" && f !== "kustomization.yaml")
    .flatMap((f) => docs(`k8s/${f}`));
  const find = (kind: string, name?: string) => all.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  const sts = find("StatefulSet")[0]!;
  const pod = sts.spec.template.spec;
  const container = pod.containers[0];
  const labels: Record<string, string> = sts.spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  const env = new Map<string, Obj>(container.env.map((e: Obj) => [e.name, e]));

  test("kustomization lists every manifest and only existing ones", () => {
    const k = yaml("k8s/kustomization.yaml");
    const manifests = readdirSync(dir).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml" && f !== "nats-values.yaml");
    expect([...k.resources].sort()).toEqual(manifests.sort());
  });

  test("StatefulSet: headless service, selectors, a volume per node mounted at DATA_DIR", () => {
    const headless = find("Service", sts.spec.serviceName)[0]!;
    expect(headless.spec.clusterIP).toBe("None");
    expect(matches(sts.spec.selector.matchLabels)).toBe(true);
    for (const svc of find("Service")) expect([svc.metadata.name, matches(svc.spec.selector)]).toEqual([svc.metadata.name, true]);
    expect(find("Service").some((s) => s.spec.clusterIP !== "None")).toBe(true);
    for (const pdb of find("PodDisruptionBudget")) expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    const claim = sts.spec.volumeClaimTemplates[0];
    expect(claim.spec.accessModes).toEqual(["ReadWriteOnce"]);
    const dataMount = container.volumeMounts.find((m: Obj) => m.name === claim.metadata.name);
    expect(dataMount.mountPath).toBe(env.get("DATA_DIR")!.value);
  });

  test("probes: liveness on /health/live, readiness on /health/ready, on the declared port", () => {
    const portNames = container.ports.map((p: Obj) => p.name);
    expect(container.livenessProbe.httpGet.path).toBe("/health/live");
    expect(container.readinessProbe.httpGet.path).toBe("/health/ready");
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) expect(portNames).toContain(probe.httpGet.port);
    expect(String(container.ports[0].containerPort)).toBe(env.get("PORT")!.value);
    expect(sts.spec.template.metadata.annotations["prometheus.io/port"]).toBe(env.get("PORT")!.value);
    for (const svc of find("Service")) for (const p of svc.spec.ports) expect(portNames).toContain(p.targetPort);
  });

  test("env: known variables only, NODE_ID is the pod name, shared identity from a read-only Secret", () => {
    const cm = find("ConfigMap", container.envFrom[0].configMapRef.name)[0]!;
    for (const k of [...env.keys(), ...Object.keys(cm.data)]) expect([k, KNOWN_ENV.has(k)]).toEqual([k, true]);
    for (const u of (cm.data.NATS_URL as string).split(",")) expect(isNatsUrl(u)).toBe(true);
    expect(env.get("NODE_ID")!.valueFrom.fieldRef.fieldPath).toBe("metadata.name");
    expect(checkNodeId(`${sts.metadata.name}-${sts.spec.replicas - 1}`).ok).toBe(true);
    const keysDir = posix.dirname(env.get("MEDIATOR_KEYS_FILE")!.value);
    const mount = container.volumeMounts.find((m: Obj) => m.mountPath === keysDir);
    expect(mount.readOnly).toBe(true);
    const volume = pod.volumes.find((v: Obj) => v.name === mount.name);
    expect(volume.secret.secretName).toBe("haven-mediator-keys");
  });

  test("runs as the image's unprivileged user with a drain window", () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(DOCKERFILE_UID);
    expect(container.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
  });

  test("the README explains NATS through its official Helm chart", () => {
    const readme = readFileSync(join(dir, "README.md"), "utf8");
    expect(readme).toContain("helm upgrade --install nats nats/nats");
    expect(yaml("k8s/nats-values.yaml").config.jetstream.enabled).toBe(true);
  });
});

describe("grafana/haven.json", () => {
  const dash = JSON.parse(read("grafana/haven.json")) as Obj;
  const panels = (dash.panels as Obj[]).filter((p) => p.type !== "row");
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t: Obj) => t.expr as string));

  test("a dashboard with unique panel ids and a query on every panel", () => {
    expect(dash.uid).toBe("haven-overview");
    const ids = (dash.panels as Obj[]).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of panels) expect([p.title, (p.targets ?? []).length > 0]).toEqual([p.title, true]);
  });

  test("covers throughput, latency p50/p99, errors, ownership, breakers, DLQ, outbox, fallback", () => {
    const titles = panels.map((p) => p.title as string).join("\n");
    for (const topic of [/per second/i, /p50 \/ p99/, /error/i, /ownership/i, /breaker/i, /DLQ/, /outbox/i, /fallback/i]) expect(titles).toMatch(topic);
    expect(exprs.some((e) => e.startsWith("histogram_quantile(0.99"))).toBe(true);
  });

  test("every metric a panel queries is one Haven exposes", async () => {
    const exposed = await exposedMetricNames();
    for (const e of exprs) for (const n of metricNamesIn(e)) expect([n, exposed.has(n)]).toEqual([n, true]);
  });
});

test("the deployment directories hold what the docs reference", () => {
  for (const p of ["compose.yaml", "prometheus/alerts.yml", "prometheus/alerts.test.yml", "grafana/haven.json", "k8s/README.md"]) {
    expect([p, existsSync(join(CLUSTER, p))]).toEqual([p, true]);
  }
});
