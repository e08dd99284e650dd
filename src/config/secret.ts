// Secret: a wrapper that keeps a sensitive string out of logs, JSON and inspection unless explicitly revealed.

const REDACTED = "[REDACTED]";

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself: call only where it is used (e.g. a constant-time comparison). */
  reveal(): string {
    return this.#value;
  }

  /** Length only: useful for diagnostics without disclosing content. */
  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `Secret(${REDACTED})`;
  }
}
