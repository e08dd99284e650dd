// Free loopback TCP ports for test processes: random picks below the ephemeral range, probed by binding, never handed out twice per process.

/**
 * Ports are picked at random in [MIN_PORT, MAX_PORT), which lies below Linux's default ephemeral range
 * (32768..60999): a port obtained by binding port 0 would be an ephemeral one that the kernel may reuse
 * for an outgoing connection before the child process binds it. Parallel test processes may still race
 * for the same port, so callers that start servers retry on "address in use".
 */
const MIN_PORT = 20_000;
const MAX_PORT = 32_000;
const MAX_ATTEMPTS = 200;

/** Ports this process has handed out: a restarted server keeps its ports, so we must not reuse them. */
const handedOut = new Set<number>();

/** True if 127.0.0.1:port can be bound right now (released immediately). */
export function isPortFree(port: number): boolean {
  try {
    const server = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    server.stop(true);
    return true;
  } catch {
    return false;
  }
}

/** One free loopback port not handed out before by this process. */
export function freePort(): number {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const port = MIN_PORT + Math.floor(Math.random() * (MAX_PORT - MIN_PORT));
    if (handedOut.has(port)) continue;
    if (!isPortFree(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free loopback port found in ${MAX_ATTEMPTS} attempts`);
}

/** `count` distinct free loopback ports. */
export function freePorts(count: number): number[] {
  if (!Number.isInteger(count) || count < 0 || count > 1000) throw new RangeError(`port count must be 0..1000, got ${count}`);
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(freePort());
  return ports;
}

/** Lets a port be handed out again (after its server is gone for good). */
export function releasePort(port: number): void {
  handedOut.delete(port);
}
