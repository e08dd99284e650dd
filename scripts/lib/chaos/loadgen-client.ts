// Parent side of the load generator: spawns scripts/lib/chaos/loadgen.ts, collects its per-second lines, stops it.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LatencyHistogram } from "./histogram.ts";
import type { LoadgenConfig, LoadgenLine } from "./loadgen.ts";
import { densify, type SecondRecord } from "./series.ts";

export interface LoadgenResult {
  /** Dense per-second records (index == sec since load start). */
  series: SecondRecord[];
  requests: number;
  accepted: number;
  /** Body index -> got at least one 202. */
  acceptedSet: Uint8Array;
}

export class Loadgen {
  readonly #proc: ReturnType<typeof Bun.spawn>;
  readonly #records: SecondRecord[] = [];
  #startAbsMs: number | undefined;
  #done: Extract<LoadgenLine, { kind: "done" }> | undefined;
  readonly #reading: Promise<void>;
  #stderr = "";
  /** Called for every second as it arrives (progress output). */
  onSecond: ((r: SecondRecord, ready: boolean[]) => void) | undefined;

  private constructor(cfgPath: string) {
    this.#proc = Bun.spawn(["bun", "run", join(import.meta.dir, "loadgen.ts"), cfgPath], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    this.#reading = this.#read();
    void new Response(this.#proc.stderr as ReadableStream<Uint8Array>).text().then((t) => (this.#stderr = t.slice(-4000)));
  }

  static async start(cfg: LoadgenConfig, workDir: string): Promise<Loadgen> {
    if (cfg.nodes.length === 0 || cfg.connections < 1) throw new RangeError("loadgen needs nodes and connections");
    const cfgPath = join(workDir, `loadgen-${Date.now()}.json`);
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const lg = new Loadgen(cfgPath);
    const deadline = Date.now() + 60_000; // reading a large bodies file takes a moment
    while (lg.#startAbsMs === undefined) {
      if (lg.#proc.exitCode !== null) throw new Error(`loadgen exited early: ${lg.#stderr}`);
      if (Date.now() > deadline) throw new Error("loadgen did not start");
      await Bun.sleep(20);
    }
    return lg;
  }

  /** Wall-clock ms at which second 0 began. */
  get startAbsMs(): number {
    return this.#startAbsMs!;
  }
  /** Seconds since load start (fractional) of an absolute time. */
  secOf(absMs: number): number {
    return (absMs - this.startAbsMs) / 1000;
  }
  get seconds(): readonly SecondRecord[] {
    return this.#records;
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    for await (const chunk of this.#proc.stdout as ReadableStream<Uint8Array>) {
      partial += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = partial.indexOf("\n")) >= 0) {
        const line = JSON.parse(partial.slice(0, nl)) as LoadgenLine;
        partial = partial.slice(nl + 1);
        if (line.kind === "start") this.#startAbsMs = line.atMs;
        else if (line.kind === "done") this.#done = line;
        else {
          const r: SecondRecord = { sec: line.sec, accepted: line.accepted, errors: line.errors, latency: LatencyHistogram.fromJSON(line.latency) };
          this.#records.push(r);
          this.onSecond?.(r, line.ready);
        }
      }
    }
  }

  /** Stops sending, waits for answers in flight, returns everything recorded. */
  async stop(): Promise<LoadgenResult> {
    this.#proc.kill("SIGTERM");
    await this.#proc.exited;
    await this.#reading;
    const done = this.#done;
    if (done === undefined) throw new Error(`loadgen ended without a summary (exit ${this.#proc.exitCode}): ${this.#stderr}`);
    return { series: densify(this.#records), requests: done.requests, accepted: done.accepted, acceptedSet: new Uint8Array(Buffer.from(done.acceptedSet, "base64")) };
  }

  /** Kills the process without waiting for a summary (cleanup on failure). */
  kill(): void {
    if (this.#proc.exitCode === null) this.#proc.kill("SIGKILL");
  }
}
