// Assertions for the DIDComm error contract: failures are DidcommError with a given stable code, never anything else.
import { expect } from "bun:test";
import { DidcommError, type DidcommErrorCode } from "../../src/didcomm/errors.ts";

/** Runs `f` and returns what it threw (or undefined), never letting the exception escape. */
export async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
    return undefined;
  } catch (e) {
    return e;
  }
}

/** Asserts `f` rejects with a DidcommError whose code is one of `codes`; returns the error for further checks. */
export async function expectDidcommError(f: () => unknown, ...codes: DidcommErrorCode[]): Promise<DidcommError> {
  const e = await caught(f);
  if (!(e instanceof DidcommError)) {
    // Show what escaped: a stack from inside a library is exactly what this contract forbids.
    throw new Error(`expected DidcommError(${codes.join("|")}), got ${e === undefined ? "success" : describe(e)}`);
  }
  expect(codes).toContain(e.code);
  return e;
}

export function describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}\n${e.stack ?? ""}`;
  return String(e);
}
