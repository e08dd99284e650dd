// SWIM-style failure detector over heartbeats: silence -> suspect -> direct + indirect probe -> dead; refutation by incarnation.
import type { TimerHandle } from "../runtime/clock.ts";
import { resolveMembershipOptions, type MembershipOptions, type ResolvedMembershipOptions } from "./options.ts";
import type { PingRequest, Unsubscribe } from "./transport.ts";
import type { AnnouncedState, Heartbeat, MemberInfo, MembershipView, MemberState, NodeLoad, SuspectNotice } from "./types.ts";
import { checkNodeId } from "./types.ts";

interface Member {
  nodeId: string;
  announced: AnnouncedState;
  incarnation: number;
  url: string;
  load: NodeLoad;
  lastSeenMonoMs: number;
  /** Suspected at this incarnation (cleared only by a heartbeat with a higher one: a refutation). */
  suspectedAt: number | null;
  dead: boolean;
  deadSinceMonoMs: number;
  /** A probe round is in flight. */
  probing: boolean;
  /** lastSeenMonoMs value when the last probe started: one probe round per silence period. */
  probedForSeenMs: number;
  lastNoticeMonoMs: number;
}

/**
 * Tracks cluster members from heartbeats. Rules (all times from the injected monotonic clock):
 * - silent for suspectAfterMs -> suspect (notice on haven.gossip.suspect) and probe: ping it directly and
 *   ask up to k alive members to ping it; any answer counts as being seen now.
 * - silent for deadAfterMs -> dead (removed from the ring). Death is decided by local silence only, so a
 *   member that still reaches us is never declared dead because someone else lost sight of it.
 * - a suspicion at incarnation i (ours or gossiped) is cleared only by a heartbeat with incarnation > i;
 *   a node hearing itself suspected refutes by raising its incarnation above i and heartbeating at once.
 * - a dead member returns only with a higher incarnation; its stale heartbeats get a notice so it refutes.
 * Suspects stay in the live set: only death (or draining/leaving) moves partitions.
 */
export class Membership {
  readonly #o: ResolvedMembershipOptions;
  readonly #members = new Map<string, Member>();
  readonly #listeners = new Set<(view: MembershipView) => void>();
  #incarnation: number;
  #state: AnnouncedState = "alive";
  #heartbeatTimer: TimerHandle | null = null;
  #checkTimer: TimerHandle | null = null;
  #unsubs: Unsubscribe[] = [];
  #lastSignature = "";
  #view: MembershipView;
  #running = false;
  /** Times this node refuted a suspicion about itself. */
  refutations = 0;

  constructor(opts: MembershipOptions) {
    checkNodeId(opts.nodeId);
    this.#o = resolveMembershipOptions(opts);
    // Wall-clock start time: a restarted node outranks every incarnation of its previous life.
    this.#incarnation = Math.max(1, Math.floor(this.#o.clock.nowMs()));
    this.#view = this.#buildView();
  }

  get nodeId(): string {
    return this.#o.nodeId;
  }

  get incarnation(): number {
    return this.#incarnation;
  }

  get state(): AnnouncedState {
    return this.#state;
  }

  view(): MembershipView {
    return this.#view;
  }

  /** Registers a view listener (called on every change); returns an unsubscribe function. */
  onChange(fn: (view: MembershipView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const t = this.#o.transport;
    this.#unsubs = [
      t.onHeartbeat((hb) => this.#onHeartbeat(hb)),
      t.onSuspect((n) => this.#onSuspect(n)),
      t.servePings(this.#o.nodeId, (req) => this.#answerPing(req)),
    ];
    this.#heartbeat();
    this.#scheduleCheck();
    this.#emitIfChanged();
  }

  /** Announces a state ("draining" takes this node off the ring; "leaving" before exit) and heartbeats at once. */
  setState(state: AnnouncedState): void {
    this.#state = state;
    if (this.#running) this.#heartbeat();
    this.#emitIfChanged();
  }

  /** Stops heartbeating and detection. With `announceLeaving`, sends a final "leaving" heartbeat first. */
  stop(announceLeaving = true): void {
    if (!this.#running) return;
    if (announceLeaving) {
      this.#state = "leaving";
      this.#publishHeartbeat();
    }
    this.#running = false;
    for (const u of this.#unsubs) u();
    this.#unsubs = [];
    if (this.#heartbeatTimer) this.#o.clock.clearTimeout(this.#heartbeatTimer);
    if (this.#checkTimer) this.#o.clock.clearTimeout(this.#checkTimer);
    this.#heartbeatTimer = this.#checkTimer = null;
  }

  #heartbeat(): void {
    if (this.#heartbeatTimer) this.#o.clock.clearTimeout(this.#heartbeatTimer);
    this.#publishHeartbeat();
    this.#heartbeatTimer = this.#o.clock.setTimeout(() => this.#heartbeat(), this.#o.heartbeatIntervalMs, { unref: true });
  }

  #publishHeartbeat(): void {
    this.#o.transport.publishHeartbeat({
      nodeId: this.#o.nodeId,
      incarnation: this.#incarnation,
      state: this.#state,
      url: this.#o.url,
      load: this.#o.load(),
      seenAtMs: this.#o.clock.nowMs(),
    });
  }

  #scheduleCheck(): void {
    this.#checkTimer = this.#o.clock.setTimeout(
      () => {
        if (!this.#running) return;
        this.#check();
        this.#scheduleCheck();
      },
      this.#o.checkIntervalMs,
      { unref: true },
    );
  }

  #onHeartbeat(hb: Heartbeat): void {
    if (!this.#running || hb.nodeId === this.#o.nodeId) return;
    const now = this.#o.clock.monotonicMs();
    let m = this.#members.get(hb.nodeId);
    if (!m) {
      if (this.#members.size >= this.#o.maxMembers) return;
      m = newMember(hb, now);
      this.#members.set(hb.nodeId, m);
      this.#emitIfChanged();
      return;
    }
    if (hb.incarnation < m.incarnation) return; // stale: an older life or reordered delivery
    if (m.dead && hb.incarnation === m.incarnation) {
      // Declared dead at this incarnation: tell it, so it rejoins with a higher one (rate-limited).
      if (now - m.lastNoticeMonoMs >= this.#o.suspectAfterMs) this.#notice(m, now);
      return;
    }
    if (hb.incarnation > m.incarnation || m.dead) {
      m.dead = false;
      if (m.suspectedAt !== null && hb.incarnation > m.suspectedAt) m.suspectedAt = null;
    }
    m.incarnation = hb.incarnation;
    m.announced = hb.state;
    m.url = hb.url;
    m.load = hb.load;
    m.lastSeenMonoMs = now;
    this.#emitIfChanged();
  }

  #onSuspect(n: SuspectNotice): void {
    if (!this.#running) return;
    if (n.nodeId === this.#o.nodeId) {
      if (n.incarnation >= this.#incarnation) {
        // Refutation: only this node raises its own incarnation.
        this.#incarnation = n.incarnation + 1;
        this.refutations++;
        this.#heartbeat();
      }
      return;
    }
    const m = this.#members.get(n.nodeId);
    if (!m || m.dead || n.incarnation < m.incarnation) return;
    if (m.suspectedAt === null || n.incarnation > m.suspectedAt) {
      m.suspectedAt = n.incarnation;
      this.#emitIfChanged();
    }
  }

  async #answerPing(req: PingRequest): Promise<boolean> {
    if (!this.#running) return false;
    if (req.target === null || req.target === this.#o.nodeId) return true;
    const timeoutMs = Math.min(req.timeoutMs, this.#o.probeTimeoutMs);
    return this.#o.transport.ping(this.#o.nodeId, req.target, null, timeoutMs);
  }

  #check(): void {
    const now = this.#o.clock.monotonicMs();
    for (const m of this.#members.values()) {
      const silentMs = now - m.lastSeenMonoMs;
      if (m.dead || m.announced === "leaving") {
        const since = m.dead ? m.deadSinceMonoMs : m.lastSeenMonoMs;
        if (now - since >= this.#o.forgetAfterMs) this.#members.delete(m.nodeId);
        else if (!m.dead && silentMs >= this.#o.deadAfterMs) this.#declareDead(m, now);
        continue;
      }
      if (silentMs >= this.#o.deadAfterMs && !m.probing) {
        this.#declareDead(m, now);
      } else if (silentMs >= this.#o.suspectAfterMs) {
        if (m.suspectedAt === null) {
          m.suspectedAt = m.incarnation;
          this.#notice(m, now);
        }
        if (!m.probing && m.probedForSeenMs !== m.lastSeenMonoMs) this.#probe(m);
      }
    }
    this.#emitIfChanged();
  }

  #declareDead(m: Member, now: number): void {
    m.dead = true;
    m.deadSinceMonoMs = now;
    m.suspectedAt = null;
  }

  #notice(m: Member, now: number): void {
    m.lastNoticeMonoMs = now;
    this.#o.transport.publishSuspect({ nodeId: m.nodeId, incarnation: m.incarnation, from: this.#o.nodeId });
  }

  /** Direct ping plus up to k indirect probes through alive members; any success counts as seeing it now. */
  #probe(m: Member): void {
    m.probing = true;
    m.probedForSeenMs = m.lastSeenMonoMs;
    const self = this.#o.nodeId;
    const timeoutMs = this.#o.probeTimeoutMs;
    const helpers = this.#pickHelpers(m.nodeId);
    const attempts = [
      this.#o.transport.ping(self, m.nodeId, null, timeoutMs),
      ...helpers.map((h) => this.#o.transport.ping(self, h, m.nodeId, timeoutMs)),
    ];
    void anyTrue(attempts).then((reached) => {
      m.probing = false;
      if (!this.#running || m.dead || this.#members.get(m.nodeId) !== m) return;
      if (reached) m.lastSeenMonoMs = Math.max(m.lastSeenMonoMs, this.#o.clock.monotonicMs());
      else if (this.#o.clock.monotonicMs() - m.lastSeenMonoMs >= this.#o.deadAfterMs) this.#declareDead(m, this.#o.clock.monotonicMs());
      this.#emitIfChanged();
    });
  }

  #pickHelpers(exclude: string): string[] {
    const candidates: string[] = [];
    for (const m of this.#members.values()) {
      if (m.nodeId !== exclude && !m.dead && m.suspectedAt === null && m.announced !== "leaving") candidates.push(m.nodeId);
    }
    // Partial Fisher-Yates: k random distinct helpers.
    const k = Math.min(this.#o.indirectProbes, candidates.length);
    for (let i = 0; i < k; i++) {
      const j = i + this.#o.random.int(candidates.length - i);
      [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
    }
    return candidates.slice(0, k);
  }

  #buildView(): MembershipView {
    const now = this.#o.clock.monotonicMs();
    const members: MemberInfo[] = [
      { nodeId: this.#o.nodeId, state: this.#state, incarnation: this.#incarnation, url: this.#o.url, load: this.#o.load(), lastSeenMonoMs: now },
    ];
    for (const m of this.#members.values()) {
      members.push({ nodeId: m.nodeId, state: stateOf(m), incarnation: m.incarnation, url: m.url, load: m.load, lastSeenMonoMs: m.lastSeenMonoMs });
    }
    members.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    const live = members.filter((m) => m.state === "alive" || m.state === "suspect").map((m) => m.nodeId);
    return { live, members };
  }

  #emitIfChanged(): void {
    const view = this.#buildView();
    const signature = view.members.map((m) => `${m.nodeId}:${m.state}:${m.incarnation}`).join(",");
    this.#view = view;
    if (signature === this.#lastSignature) return;
    this.#lastSignature = signature;
    for (const fn of [...this.#listeners]) fn(view);
  }
}

function stateOf(m: Member): MemberState {
  if (m.dead) return "dead";
  if (m.suspectedAt !== null && m.announced === "alive") return "suspect";
  return m.announced;
}

function newMember(hb: Heartbeat, now: number): Member {
  return {
    nodeId: hb.nodeId,
    announced: hb.state,
    incarnation: hb.incarnation,
    url: hb.url,
    load: hb.load,
    lastSeenMonoMs: now,
    suspectedAt: null,
    dead: false,
    deadSinceMonoMs: 0,
    probing: false,
    probedForSeenMs: -1,
    lastNoticeMonoMs: Number.NEGATIVE_INFINITY,
  };
}

/** Resolves true as soon as one attempt resolves true; false once all resolved otherwise. */
function anyTrue(attempts: Promise<boolean>[]): Promise<boolean> {
  return new Promise((resolve) => {
    let pending = attempts.length;
    if (pending === 0) return resolve(false);
    for (const a of attempts) {
      a.then(
        (ok) => {
          if (ok) resolve(true);
          else if (--pending === 0) resolve(false);
        },
        () => {
          if (--pending === 0) resolve(false);
        },
      );
    }
  });
}
