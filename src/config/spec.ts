// Variable spec builders: each describes how one environment variable is parsed, bounded, defaulted and documented.

/** Outcome of parsing one raw value; `detail` must never contain secret material. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; detail?: string };

/** Declarative description of one environment variable. */
export interface VarSpec<T> {
  /** One-line description for the README table. */
  readonly doc: string;
  /** Secrets are never echoed in errors and never shown as defaults. */
  readonly secret: boolean;
  /** Accepted form, used in errors and docs, e.g. `an integer in 1..65535`. */
  readonly expected: string;
  /** Value used when the variable is unset or blank; `null` means "derived from other variables" or "off". */
  readonly defaultValue: T;
  /** Default as shown in the docs. */
  readonly defaultDoc: string;
  parse(raw: string): ParseResult<T>;
}

/** Value type produced by a spec. */
export type SpecValue<S> = S extends VarSpec<infer T> ? T : never;

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const fail = <T>(detail?: string): ParseResult<T> => (detail === undefined ? { ok: false } : { ok: false, detail });

const DECIMAL_INT = /^[0-9]+$/;

function parseBoundedInt(raw: string, min: number, max: number): ParseResult<number> {
  const s = raw.replaceAll("_", "");
  if (!DECIMAL_INT.test(s)) return fail();
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= min && n <= max ? ok(n) : fail("out of range");
}

/** Integer in [min, max]; `_` separators allowed (`10_000`). */
export function integer(o: { doc: string; min: number; max: number; default: number; unit?: string }): VarSpec<number> {
  const unit = o.unit ? ` ${o.unit}` : "";
  return {
    doc: o.doc,
    secret: false,
    expected: `an integer in ${o.min}..${o.max}${unit}`,
    defaultValue: o.default,
    defaultDoc: o.unit === "s" ? `${o.default} s (${formatSeconds(o.default)})` : `${o.default}${unit}`,
    parse: (raw) => parseBoundedInt(raw, o.min, o.max),
  };
}

/** Integer in [min, max], or null when unset (the default is derived elsewhere, documented by `defaultDoc`). */
export function optionalInteger(o: { doc: string; min: number; max: number; defaultDoc: string; unit?: string }): VarSpec<number | null> {
  const unit = o.unit ? ` ${o.unit}` : "";
  return {
    doc: o.doc,
    secret: false,
    expected: `an integer in ${o.min}..${o.max}${unit}`,
    defaultValue: null,
    defaultDoc: o.defaultDoc,
    parse: (raw) => parseBoundedInt(raw, o.min, o.max),
  };
}

/** Human form of a duration for the docs: `7 days`, `1 hour`, `90 s`. */
export function formatSeconds(n: number): string {
  for (const [name, size] of [["day", 86400], ["hour", 3600], ["min", 60]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${name}${n / size === 1 || name === "min" ? "" : "s"}`;
  }
  return `${n} s`;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** Renders a byte count the way the docs and errors show it (`1 MiB`, `65536 B`). */
export function formatBytes(n: number): string {
  for (const [name, size] of [["TiB", 1024 ** 4], ["GiB", 1024 ** 3], ["MiB", 1024 ** 2], ["KiB", 1024]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${name}`;
  }
  return `${n} B`;
}

/** Byte size in [min, max]: plain bytes or with a binary unit (`512KiB`, `1 MiB`, `2GiB`). */
export function byteSize(o: { doc: string; min: number; max: number; default: number }): VarSpec<number> {
  return {
    doc: o.doc,
    secret: false,
    expected: `a size in ${formatBytes(o.min)}..${formatBytes(o.max)} (bytes, or with KiB/MiB/GiB/TiB)`,
    defaultValue: o.default,
    defaultDoc: formatBytes(o.default),
    parse(raw) {
      const m = /^([0-9][0-9_]*)\s*([a-z]*)$/i.exec(raw);
      const mult = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
      if (!m || mult === undefined) return fail();
      const n = Number(m[1]!.replaceAll("_", "")) * mult;
      return Number.isSafeInteger(n) && n >= o.min && n <= o.max ? ok(n) : fail("out of range");
    },
  };
}

const TRUE_WORDS = new Set(["true", "1", "yes", "on"]);
const FALSE_WORDS = new Set(["false", "0", "no", "off"]);

export function boolean(o: { doc: string; default: boolean }): VarSpec<boolean> {
  return {
    doc: o.doc,
    secret: false,
    expected: "true or false (also 1/0, yes/no, on/off)",
    defaultValue: o.default,
    defaultDoc: String(o.default),
    parse(raw) {
      const s = raw.toLowerCase();
      return TRUE_WORDS.has(s) ? ok(true) : FALSE_WORDS.has(s) ? ok(false) : fail();
    },
  };
}

export function oneOf<const T extends string>(o: { doc: string; values: readonly T[]; default: T }): VarSpec<T> {
  return {
    doc: o.doc,
    secret: false,
    expected: `one of ${o.values.join("|")}`,
    defaultValue: o.default,
    defaultDoc: o.default,
    parse(raw) {
      const s = raw.toLowerCase();
      return (o.values as readonly string[]).includes(s) ? ok(s as T) : fail();
    },
  };
}

/** Free-form string checked by a predicate; `default: null` means optional with no value. */
export function text<D extends string | null>(o: {
  doc: string;
  expected: string;
  default: D;
  defaultDoc?: string;
  secret?: boolean;
  check: (s: string) => ParseResult<string>;
}): VarSpec<string | D> {
  return {
    doc: o.doc,
    secret: o.secret ?? false,
    expected: o.expected,
    defaultValue: o.default,
    defaultDoc: o.defaultDoc ?? (o.default === null ? "(unset)" : String(o.default)),
    parse: (raw) => o.check(raw),
  };
}

/**
 * Comma-separated list; blank entries are ignored, duplicates removed, at most `maxItems` entries.
 * A bad entry is reported by position (never by value when the list is secret).
 */
export function list(o: {
  doc: string;
  expected: string;
  secret?: boolean;
  maxItems: number;
  item: (s: string) => boolean;
}): VarSpec<readonly string[]> {
  return {
    doc: o.doc,
    secret: o.secret ?? false,
    expected: o.expected,
    defaultValue: [],
    defaultDoc: "(empty)",
    parse(raw) {
      const items = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
      if (items.length > o.maxItems) return fail(`more than ${o.maxItems} entries`);
      const bad = items.findIndex((s) => !o.item(s));
      if (bad >= 0) return fail(`entry #${bad + 1} is invalid`);
      return ok([...new Set(items)]);
    },
  };
}

export { ok, fail };
