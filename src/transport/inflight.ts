// Counts work in progress (requests, WebSocket frames) so a graceful stop can wait for it to finish.
import type { Clock } from "../runtime/clock.ts";

export class InFlight {
  #count = 0;
  #waiters: (() => void)[] = [];

  get count(): number {
    return this.#count;
  }

  enter(): void {
    this.#count++;
  }

  leave(): void {
    if (this.#count <= 0) throw new Error("invariant: InFlight.leave without enter");
    if (--this.#count === 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves true once nothing is in flight, or false after timeoutMs. */
  drain(timeoutMs: number, clock: Clock): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clock.clearTimeout(timer);
        resolve(true);
      };
      const timer = clock.setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(done);
    });
  }
}
