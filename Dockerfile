# Haven mediator image: multi-stage build on the official Bun image; runs as a non-root user with data on a volume.
# Runs one mediator node (src/main.ts) configured from the environment; see the README's configuration table.

ARG BUN_VERSION=1.4.5

# --- deps: production dependencies only, exactly as locked.
FROM oven/bun:${BUN_VERSION}-slim AS deps
WORKDIR /app
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile --production

# --- runtime: sources + production node_modules; no dev tooling, tests, scripts or docs.
FROM oven/bun:${BUN_VERSION}-slim AS runtime
WORKDIR /app
# BUN_JSC_forceRAMSize: the garbage collector's idea of the machine's RAM (src/runtime/launch-env.ts says why).
ENV NODE_ENV=production \
    BUN_JSC_forceRAMSize=536870912 \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data

# A dedicated unprivileged user; /data holds the SQLite journal and the mediator's key file (created 0600).
RUN groupadd --system --gid 10001 haven \
 && useradd --system --uid 10001 --gid haven --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin haven \
 && mkdir -p /data \
 && chown haven:haven /data \
 && chmod 0700 /data

COPY --from=deps /app/node_modules ./node_modules
COPY package.json bun.lock bunfig.toml tsconfig.json ./
COPY src ./src

USER haven:haven
VOLUME ["/data"]
EXPOSE 3000

# curl/wget are not in the slim image: probe liveness with Bun's own fetch (exit 1 on any failure or timeout).
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["bun", "-e", "fetch(`http://127.0.0.1:${process.env.PORT ?? 3000}/health/live`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Exec form: bun is PID 1 and receives SIGTERM directly for a graceful stop.
CMD ["bun", "run", "src/main.ts"]
