// Public surface of the runtime module: injected time and randomness.
export type { Clock, TimerHandle } from "./clock.ts";
export { systemClock, ManualClock, sleep, drainMicrotasks, MAX_TIMER_DELAY_MS } from "./clock.ts";
export type { Random } from "./random.ts";
export { seededRandom, cryptoRandom, seedFromEnv, MAX_RANDOM_INT, MAX_RANDOM_BYTES } from "./random.ts";
