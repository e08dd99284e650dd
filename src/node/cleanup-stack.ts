// Teardown steps registered while a component starts, run in reverse on stop or on a failed start.

export type CleanupStep = () => Promise<void> | void;

/**
 * Each step runs once, last registered first (a resource closes before what it was built on). A failing step is
 * reported and the rest still run: stopping must release everything it can.
 */
export class CleanupStack {
  readonly #steps: CleanupStep[] = [];

  constructor(private readonly onError: (err: unknown) => void) {}

  push(step: CleanupStep): void {
    this.#steps.push(step);
  }

  async run(): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

/** The log-safe name of an error (never its message, which may carry data). */
export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : "unknown";
}
