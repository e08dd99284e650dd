// ConfigError: every problem found in the environment, reported at once, never echoing secret values.

/** One invalid or missing variable. */
export interface ConfigProblem {
  /** Environment variable name, e.g. `PORT`. */
  readonly variable: string;
  /** The offending value (truncated), or undefined for secrets and for missing values. */
  readonly value: string | undefined;
  /** What would have been accepted, e.g. `an integer in 1..65535`. */
  readonly expected: string;
  /** Optional detail, e.g. which list entry is wrong; never contains a secret value. */
  readonly detail?: string;
}

/** Longest value echoed back in an error, so a huge variable cannot flood the logs. */
const MAX_ECHO_CHARS = 80;

export function echoValue(raw: string): string {
  return raw.length > MAX_ECHO_CHARS ? `${raw.slice(0, MAX_ECHO_CHARS)}...(${raw.length} chars)` : raw;
}

function describe(p: ConfigProblem): string {
  const shown = p.value === undefined ? "" : `=${JSON.stringify(p.value)}`;
  const detail = p.detail ? ` (${p.detail})` : "";
  return `${p.variable}${shown}: expected ${p.expected}${detail}`;
}

/** Thrown by `loadConfig` with the full list of problems, so an operator fixes them in one pass. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[]) {
    if (problems.length === 0) throw new Error("invariant: ConfigError needs at least one problem");
    const n = problems.length;
    super(`invalid configuration (${n} problem${n === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${describe(p)}`).join("\n")}`);
    this.problems = Object.freeze([...problems]);
  }
}
