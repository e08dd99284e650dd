// Loss check: every envelope that got a 202 must be in its recipient's mailbox (counted per mailbox, forwards dedup).

export interface LossReport {
  /** Distinct envelopes acknowledged with 202. */
  expected: number;
  /** Messages found in the mailboxes. */
  stored: number;
  /** Sum over mailboxes of max(0, expected - stored). */
  lost: number;
  /**
   * Sum over mailboxes of max(0, stored - expected): envelopes stored although their request failed on the client
   * side (a timeout after the node had accepted), not a fault in itself.
   */
  extra: number;
}

/** How many envelopes with index i (recipient i % recipients) are set in `acceptedSet`, per recipient. */
export function expectedPerRecipient(acceptedSet: Uint8Array, envelopes: number, recipients: number): number[] {
  if (!Number.isInteger(recipients) || recipients < 1) throw new RangeError("recipients must be a positive integer");
  if (acceptedSet.length * 8 < envelopes) throw new RangeError("accepted set shorter than the envelope count");
  const out = new Array<number>(recipients).fill(0);
  for (let i = 0; i < envelopes; i++) if ((acceptedSet[i >> 3]! >> (i & 7)) & 1) out[i % recipients]!++;
  return out;
}

export function lossReport(expected: readonly number[], stored: readonly number[]): LossReport {
  if (expected.length !== stored.length) throw new RangeError("expected and stored differ in length");
  let lost = 0;
  let extra = 0;
  expected.forEach((e, i) => {
    const s = stored[i]!;
    if (s < e) lost += e - s;
    else extra += s - e;
  });
  const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
  return { expected: sum(expected), stored: sum(stored), lost, extra };
}
