// The handle both runners return (admin URLs, stats, logs, stop), the registry of Envoys this
// test process started (for the logs-on-failure hook), and the readiness wait.
import type { Envoy, Runner } from "./envoy";
import { sleep, type LogSink, type Ports } from "./prepare";

async function httpGet(url: string, timeoutMs = 2_000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/** Parses /stats text output: `name: value` lines with a plain number (histograms are left out). */
export function parseStats(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S+): (-?\d+(?:\.\d+)?)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * The sum of the stats whose names start with `prefix` followed by a label segment or nothing:
 * a counter's total over its remaining tags (`…requests.model=llama.version=v1` sums the router's
 * counter over its `source` tag).
 */
export function sumStats(stats: Map<string, number>, prefix: string): number {
  let sum = 0;
  for (const [name, value] of stats) if (name === prefix || name.startsWith(prefix + ".")) sum += value;
  return sum;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const started = new Set<Envoy>();
const stoppedSet = new WeakSet<Envoy>();

/** Every Envoy this test process started (stopped ones included), newest last. */
export function startedEnvoys(): Envoy[] {
  return [...started];
}

/** Whether `stop()` was called on this Envoy. */
export function isStopped(envoy: Envoy): boolean {
  return stoppedSet.has(envoy);
}

/** Builds the handle both runners return and registers it. */
export function makeHandle(runner: Runner, ports: Ports, config: string, sink: LogSink, stopImpl: () => Promise<void>): Envoy {
  const adminUrl = `http://127.0.0.1:${ports.admin}`;
  let stopped: Promise<void> | null = null;
  const handle: Envoy = {
    runner,
    listenerUrl: `http://127.0.0.1:${ports.listener}`,
    adminUrl,
    listenerPort: ports.listener,
    adminPort: ports.admin,
    config,
    logFile: sink.path,
    async stats(filter?: string) {
      const q = filter === undefined ? "" : `?filter=${encodeURIComponent(filter)}`;
      const { status, body } = await httpGet(`${adminUrl}/stats${q}`);
      if (status !== 200) throw new Error(`GET /stats${q} answered ${status}: ${body}`);
      return parseStats(body);
    },
    async stat(name: string) {
      return (await handle.stats(`^${escapeRegex(name)}$`)).get(name);
    },
    async waitForStat(name, want, opts = {}) {
      const test = typeof want === "number" ? (v: number) => v >= want : want;
      const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
      let last: number | undefined;
      for (;;) {
        last = await handle.stat(name);
        if (last !== undefined && test(last)) return last;
        if (Date.now() > deadline) {
          const wanted = typeof want === "number" ? `>= ${want}` : "the expected value";
          throw new Error(`stat ${name} is ${last ?? "absent"}, wanted ${wanted} (${runner} Envoy, log ${sink.path})`);
        }
        await sleep(opts.intervalMs ?? 50);
      }
    },
    logs: () => sink.text(),
    stop() {
      stoppedSet.add(handle);
      stopped ??= stopImpl().finally(() => sink.close());
      return stopped;
    },
  };
  started.add(handle);
  return handle;
}

/** Polls admin /ready until it answers LIVE; `exited` says why not when Envoy is gone. */
export async function waitReady(adminUrl: string, deadline: number, exited: () => string | null): Promise<void> {
  for (;;) {
    const why = exited();
    if (why !== null) throw new Error(why);
    try {
      const { status, body } = await httpGet(`${adminUrl}/ready`, 1_000);
      if (status === 200 && body.trim() === "LIVE") return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`admin ${adminUrl}/ready did not answer LIVE in time`);
    await sleep(50);
  }
}
