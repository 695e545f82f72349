// `npm run bench`: per-request overhead of the Wasm filters against plain Envoy, measured in one
// run. One fast upstream (in this process) and three real Envoys (the process runner, Envoy 1.40
// from scripts/install-envoy.sh): (a) plain, no Wasm filter; (b) the noop filter
// (build/noop.wasm); (c) the model-router (build/ai-gateway.wasm), body-routed and sticky on a
// header. Same Envoy settings otherwise. A keep-alive client in this process sends the same
// 300-byte chat request to each, in interleaved rounds (a b c, c b a, a b c, ...) so machine
// drift cancels, and reports latency, throughput and Envoy CPU time per request (from
// /proc/<pid>/task/*/schedstat). See bench/README.md.
//
//   npm run bench [-- --requests 3000 --concurrency 4 --rounds 5 --warmup 1000 --max-seconds 110]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { readTemplate, renderTemplate } from "../envoy/harness/config";
import { startEnvoy, type Envoy } from "../envoy/harness/envoy";
import { BUILD_DIR, envoyBinary } from "../envoy/harness/paths";
import { startBenchUpstream, type BenchUpstream } from "./upstream";

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  requests: number;
  concurrency: number;
  rounds: number;
  warmup: number;
  maxSeconds: number;
  rewriteBody: boolean;
  out: string;
}

const USAGE = `usage: npm run bench [-- options]
  --requests N      measured requests per variant, split over the rounds (default 3000; 100..200000)
  --concurrency C   requests in flight = client sockets per Envoy (default 4; 1..64)
  --rounds R        interleaved rounds (default 10; 1..50)
  --warmup W        unmeasured requests per variant before the rounds (default 1000; 0..100000)
  --max-seconds S   hard limit on the whole run (default 110; 10..600)
  --rewrite-body    model-router also rewrites the body's model (rewrite_body_model: true)
  --out FILE        results JSON (default build/bench-results.json)`;

function parseArgs(argv: string[]): Options {
  const o: Options = { requests: 3000, concurrency: 4, rounds: 10, warmup: 1000, maxSeconds: 110, rewriteBody: false, out: path.join(BUILD_DIR, "bench-results.json") };
  const int = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || !/^\d+$/.test(v) || n < min || n > max) {
      throw new UsageError(`${flag}: expected an integer ${min}..${max}, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case "--requests": o.requests = int(flag, value(), 100, 200_000); break;
      case "--concurrency": o.concurrency = int(flag, value(), 1, 64); break;
      case "--rounds": o.rounds = int(flag, value(), 1, 50); break;
      case "--warmup": o.warmup = int(flag, value(), 0, 100_000); break;
      case "--max-seconds": o.maxSeconds = int(flag, value(), 10, 600); break;
      case "--rewrite-body": o.rewriteBody = true; break;
      case "--out": o.out = path.resolve(value() ?? ""); break;
      case "-h": case "--help": console.log(USAGE); process.exit(0);
      default: throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (o.requests < o.rounds * 20) throw new UsageError(`--requests ${o.requests}: expected at least 20 per round (--rounds ${o.rounds})`);
  return o;
}

class UsageError extends Error {}
class TimeLimit extends Error {}

// ---------------------------------------------------------------------------------------------
// The request: a 300-byte OpenAI chat body naming "llama", the same headers for every variant.

const BODY_BYTES = 300;

function chatBody(): Buffer {
  const base = { model: "llama", messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content: "" }], max_tokens: 64, temperature: 0.2 };
  const empty = Buffer.byteLength(JSON.stringify(base));
  const filler = "Summarise the benchmark in one sentence please. ";
  base.messages[1].content = filler.repeat(10).slice(0, BODY_BYTES - empty);
  const body = Buffer.from(JSON.stringify(base));
  if (body.length !== BODY_BYTES) throw new Error(`chat body is ${body.length} bytes, not ${BODY_BYTES}`);
  return body;
}

const BODY = chatBody();
const SESSIONS = Array.from({ length: 16 }, (_, i) => `session-${i.toString().padStart(4, "0")}`);
const STICKY_HEADER = "x-session-id";

// ---------------------------------------------------------------------------------------------
// Variants

const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };

function wasmFilter(name: string, file: string, configuration: string) {
  return {
    name,
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
      config: {
        name,
        root_id: name,
        allow_on_headers_stop_iteration: true,
        failure_policy: "FAIL_CLOSED",
        configuration: { "@type": "type.googleapis.com/google.protobuf.StringValue", value: configuration },
        vm_config: { vm_id: "ai-gateway", runtime: "envoy.wasm.runtime.v8", code: { local: { filename: `\${WASM_DIR}/${file}` } } },
      },
    },
  };
}

function modelRouterConfig(rewriteBody: boolean): string {
  return JSON.stringify({
    sticky_key: "header",
    sticky_header: STICKY_HEADER,
    rewrite_body_model: rewriteBody,
    // Two versions (a 90/10 sticky split) on the one upstream cluster: the split and the sticky
    // hash run, and upstream connections are the same as for the other variants.
    models: { llama: { versions: { v1: { cluster: "upstream", upstream_model: "llama-v1", weight: 90 }, v2: { cluster: "upstream", upstream_model: "llama-v2", weight: 10 } } } },
  });
}

interface Variant {
  key: "plain" | "noop" | "model-router";
  label: string;
  wasm: string[];
  filters: unknown[];
  route: unknown;
  /** Stats that count the requests the filter handled (summed), for the sanity check. */
  filterCounters: string[];
}

function variants(o: Options): Variant[] {
  return [
    { key: "plain", label: "plain Envoy", wasm: [], filters: [ROUTER], route: { cluster: "upstream" }, filterCounters: [] },
    { key: "noop", label: "+ noop", wasm: ["build/noop.wasm"], filters: [wasmFilter("noop", "noop.wasm", "{}"), ROUTER], route: { cluster: "upstream" }, filterCounters: ["wasmcustom.noop.requests_total"] },
    {
      key: "model-router",
      label: "+ model-router",
      wasm: ["build/ai-gateway.wasm"],
      filters: [wasmFilter("model-router", "ai-gateway.wasm", modelRouterConfig(o.rewriteBody)), ROUTER],
      route: { cluster_header: "x-ai-cluster" },
      filterCounters: ["wasmcustom.model_router.requests.model=llama.version=v1", "wasmcustom.model_router.requests.model=llama.version=v2"],
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Processes: Envoy's pid (the harness spawns the binary directly) and its CPU time.

/** Pids of this process's children whose command is envoy. */
function envoyChildren(): Set<number> {
  const out = new Set<number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (ppid === process.pid && comm.startsWith("envoy")) out.add(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

const CLK_TCK = 100; // Linux USER_HZ

interface Cpu {
  /** Sum over the process's threads of the time on CPU (schedstat), ns. */
  ns: number;
  /** utime + stime of the whole process (/proc/<pid>/stat), clock ticks. */
  ticks: number;
}

function processCpu(pid: number): Cpu {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that just exited
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 of stat(5) (utime, stime) are at 11 and 12 after "pid (comm) ".
  return { ns, ticks: Number(fields[11]) + Number(fields[12]) };
}

// ---------------------------------------------------------------------------------------------
// The client

const REQUEST_TIMEOUT_MS = 5_000;

interface Target {
  variant: Variant;
  envoy: Envoy;
  pid: number;
  agent: http.Agent;
  /** Envoy's CPU while the other variants ran (idle: timers, stats, nothing per request). */
  idle: { ns: number; wallNs: number };
  lastMark?: { cpuNs: number; at: bigint };
}

interface Phase {
  latUs: Float64Array;
  wallNs: number;
  envoyCpu: Cpu;
  nodeCpuUs: number;
}

let sent = 0; // across all phases: picks the sticky session

function request(t: Target): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = SESSIONS[sent++ % SESSIONS.length];
    const t0 = process.hrtime.bigint();
    const req = http.request(
      {
        host: "127.0.0.1",
        port: t.envoy.listenerPort,
        method: "POST",
        path: "/v1/chat/completions",
        agent: t.agent,
        headers: {
          "content-type": "application/json",
          "content-length": BODY.length,
          authorization: "Bearer sk-bench-0000000000000000",
          [STICKY_HEADER]: session,
        },
      },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => {
          const us = Number(process.hrtime.bigint() - t0) / 1_000;
          if (res.statusCode !== 200) reject(new Error(`${t.variant.label}: HTTP ${res.statusCode}, ${bytes} bytes (${res.headers["x-envoy-response-code-details"] ?? ""})`));
          else resolve(us);
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${t.variant.label}: no response in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(BODY);
  });
}

/** `n` requests, `concurrency` in flight (closed loop), with Envoy's CPU time around them. */
async function phase(t: Target, n: number, concurrency: number, deadline: number): Promise<Phase> {
  const latUs = new Float64Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      if (Date.now() > deadline) throw new TimeLimit("the time limit (--max-seconds) ran out; fewer --requests, or more --max-seconds");
      const i = next++;
      latUs[i] = await request(t);
    }
  };
  const cpu0 = processCpu(t.pid);
  const node0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  if (t.lastMark) {
    t.idle.ns += cpu0.ns - t.lastMark.cpuNs;
    t.idle.wallNs += Number(t0 - t.lastMark.at);
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  const wallNs = Number(process.hrtime.bigint() - t0);
  const node = process.cpuUsage(node0);
  const cpu1 = processCpu(t.pid);
  t.lastMark = { cpuNs: cpu1.ns, at: process.hrtime.bigint() };
  return { latUs, wallNs, envoyCpu: { ns: cpu1.ns - cpu0.ns, ticks: cpu1.ticks - cpu0.ticks }, nodeCpuUs: node.user + node.system };
}

// ---------------------------------------------------------------------------------------------
// Statistics

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function sortedCopy(a: Float64Array): Float64Array {
  return Float64Array.from(a).sort();
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const startedAt = Date.now();
  const deadline = startedAt + o.maxSeconds * 1000;

  const bin = envoyBinary();
  const envoyVersion = execFileSync(bin, ["--version"], { encoding: "utf8", timeout: 30_000 }).trim().split("version: ").pop() ?? "?";
  const vs = variants(o);
  for (const v of vs) {
    for (const f of v.wasm) {
      if (!existsSync(path.join(BUILD_DIR, "..", f))) throw new UsageError(`${f} is missing: run \`npm run build\` first`);
    }
  }

  // Filled here, except the harness's own placeholders (kept as they are, for startEnvoy): the
  // filter list then may use ${WASM_DIR}, which a value is not re-scanned for.
  const template = readTemplate("bench/envoy-bench.yaml");
  const harnessVars = Object.fromEntries(["ADMIN_PORT", "LISTENER_PORT", "WASM_DIR"].map((n) => [n, "${" + n + "}"]));
  let upstream: BenchUpstream | null = null;
  const targets: Target[] = [];
  // A hard stop: whatever hangs, the Envoys die and the process ends.
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${o.maxSeconds + 20} s; killing the Envoys and exiting`);
    process.exit(3); // the harness SIGKILLs its Envoys on exit
  }, (o.maxSeconds + 20) * 1000);
  watchdog.unref();
  const cleanup = async () => {
    for (const t of targets) t.agent.destroy();
    await Promise.allSettled(targets.map((t) => t.envoy.stop()));
    await upstream?.close();
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      console.error(`bench: ${sig}; stopping the Envoys`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  try {
    upstream = await startBenchUpstream();
    console.log(`bench: Envoy ${envoyVersion}, ${os.cpus().length} CPUs; upstream 127.0.0.1:${upstream.port}; ` +
      `${o.requests} requests/variant in ${o.rounds} rounds, concurrency ${o.concurrency}, warm-up ${o.warmup}${o.rewriteBody ? ", model-router rewrites the body" : ""}`);

    // The Envoys, one after another (so each new envoy child is the one just started).
    for (const v of vs) {
      const before = envoyChildren();
      const envoy = await startEnvoy({
        runner: "process",
        name: `bench-${v.key}`,
        config: renderTemplate(template, { ...harnessVars, UPSTREAM_PORT: upstream.port, HTTP_FILTERS: JSON.stringify(v.filters), ROUTE: JSON.stringify(v.route) }),
        wasm: v.wasm,
        concurrency: 1,
        logLevel: "info",
        componentLogLevel: "wasm:info",
        startTimeoutMs: 30_000,
      });
      const fresh = [...envoyChildren()].filter((p) => !before.has(p));
      if (fresh.length !== 1) {
        await envoy.stop();
        throw new Error(`could not tell the pid of the ${v.label} Envoy (new envoy children: ${fresh.join(", ") || "none"})`);
      }
      targets.push({ variant: v, envoy, pid: fresh[0], agent: new http.Agent({ keepAlive: true, maxSockets: o.concurrency, maxFreeSockets: o.concurrency }), idle: { ns: 0, wallNs: 0 } });
      console.log(`bench: ${v.label.padEnd(15)} Envoy pid ${fresh[0]}, listener ${envoy.listenerUrl}`);
    }

    // Warm-up: connections, V8 tiers, Envoy's pools; a bad config or route shows here.
    // Each variant's first request also shows what reached the upstream.
    for (const t of targets) {
      await phase(t, 1, 1, deadline);
      const model = /"model":"([^"]*)"/.exec(upstream.lastBody())?.[1];
      const want = t.variant.key === "model-router" && o.rewriteBody ? ["llama-v1", "llama-v2"] : ["llama"];
      if (!model || !want.includes(model)) throw new Error(`${t.variant.label}: the upstream got "model":"${model}", expected ${want.join(" or ")}`);
    }
    if (o.warmup > 0) for (const t of targets) await phase(t, o.warmup, o.concurrency, deadline);

    // Interleaved rounds, the order reversed every other round (ABC CBA ...), so a drift of the
    // machine's speed during the run lands on every variant alike.
    const perRound = Array.from({ length: o.rounds }, (_, r) => Math.floor(o.requests / o.rounds) + (r < o.requests % o.rounds ? 1 : 0));
    const roundWarmup = Math.min(50, Math.ceil(o.requests / o.rounds / 10));
    const phases = new Map<string, Phase[]>(vs.map((v) => [v.key, []]));
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        await phase(t, roundWarmup, o.concurrency, deadline); // back on this Envoy: refill caches
        phases.get(t.variant.key)!.push(await phase(t, perRound[r], o.concurrency, deadline));
      }
    }

    // Sanity: every request went through Envoy and, where there is one, the filter.
    const checks: { variant: string; stat: string; value: number; expected: number }[] = [];
    const filterCounters: Record<string, Record<string, number>> = {};
    for (const t of targets) {
      const expected = 1 + o.warmup + o.rounds * roundWarmup + o.requests;
      const rq = (await t.envoy.waitForStat("http.ingress_http.downstream_rq_2xx", expected, { timeoutMs: 5_000 }).catch(() => undefined)) ?? (await t.envoy.stat("http.ingress_http.downstream_rq_2xx")) ?? 0;
      checks.push({ variant: t.variant.key, stat: "http.ingress_http.downstream_rq_2xx", value: rq, expected });
      if (t.variant.filterCounters.length > 0) {
        const stats = await t.envoy.stats("^wasmcustom\\.");
        const handled = t.variant.filterCounters.reduce((s, name) => s + (stats.get(name) ?? 0), 0);
        filterCounters[t.variant.key] = Object.fromEntries(t.variant.filterCounters.map((name) => [name, stats.get(name) ?? 0]));
        checks.push({ variant: t.variant.key, stat: t.variant.filterCounters.join(" + "), value: handled, expected });
      }
    }
    const failed = checks.filter((c) => c.value !== c.expected);

    // Results.
    const plainKey = "plain";
    const summary = vs.map((v) => {
      const ps = phases.get(v.key)!;
      const t = targets.find((x) => x.variant.key === v.key)!;
      const all = sortedCopy(Float64Array.from(ps.flatMap((p) => Array.from(p.latUs))));
      const n = all.length;
      const wallNs = ps.reduce((s, p) => s + p.wallNs, 0);
      const cpuNs = ps.reduce((s, p) => s + p.envoyCpu.ns, 0);
      const ticks = ps.reduce((s, p) => s + p.envoyCpu.ticks, 0);
      const nodeUs = ps.reduce((s, p) => s + p.nodeCpuUs, 0);
      return {
        key: v.key,
        label: v.label,
        requests: n,
        median_us: quantile(all, 0.5),
        p90_us: quantile(all, 0.9),
        p99_us: quantile(all, 0.99),
        mean_us: all.reduce((s, x) => s + x, 0) / n,
        throughput_rps: n / (wallNs / 1e9),
        envoy_cpu_us_per_req: cpuNs / 1_000 / n,
        envoy_cpu_ticks_us_per_req: (ticks * (1e6 / CLK_TCK)) / n,
        node_cpu_us_per_req: nodeUs / n,
        envoy_idle_cpu_us_per_s: t.idle.wallNs > 0 ? t.idle.ns / 1_000 / (t.idle.wallNs / 1e9) : NaN,
        rounds: ps.map((p) => {
          const s = sortedCopy(p.latUs);
          return { requests: s.length, median_us: r1(quantile(s, 0.5)), p90_us: r1(quantile(s, 0.9)), throughput_rps: r1(s.length / (p.wallNs / 1e9)), envoy_cpu_us_per_req: r1(p.envoyCpu.ns / 1_000 / s.length) };
        }),
      };
    });
    const plain = summary.find((s) => s.key === plainKey)!;
    // Paired per-round differences: each round ran every variant back to back, so a round's
    // difference is measured under one machine state; their median shrugs off a disturbed round.
    const spread = (xs: number[]) => {
      const sorted = Float64Array.from(xs).sort();
      return { median: r1(quantile(sorted, 0.5)), min: r1(sorted[0]), max: r1(sorted[sorted.length - 1]) };
    };
    const rows = summary.map((s) => {
      const perRoundAdded = s.rounds.map((r, i) => r.median_us - plain.rounds[i].median_us);
      const perRoundCpu = s.rounds.map((r, i) => r.envoy_cpu_us_per_req - plain.rounds[i].envoy_cpu_us_per_req);
      return {
        ...s,
        median_us: r1(s.median_us),
        p90_us: r1(s.p90_us),
        p99_us: r1(s.p99_us),
        mean_us: r1(s.mean_us),
        throughput_rps: r1(s.throughput_rps),
        envoy_cpu_us_per_req: r1(s.envoy_cpu_us_per_req),
        envoy_cpu_ticks_us_per_req: r1(s.envoy_cpu_ticks_us_per_req),
        node_cpu_us_per_req: r1(s.node_cpu_us_per_req),
        envoy_idle_cpu_us_per_s: r1(s.envoy_idle_cpu_us_per_s),
        vs_plain: {
          median_ratio: r3(s.median_us / plain.median_us),
          p90_ratio: r3(s.p90_us / plain.p90_us),
          throughput_ratio: r3(s.throughput_rps / plain.throughput_rps),
          added_median_us: r1(s.median_us - plain.median_us),
          added_median_us_rounds: spread(perRoundAdded),
          envoy_cpu_ratio: r3(s.envoy_cpu_us_per_req / plain.envoy_cpu_us_per_req),
          added_envoy_cpu_us_per_req: r1(s.envoy_cpu_us_per_req - plain.envoy_cpu_us_per_req),
          added_envoy_cpu_us_per_req_rounds: spread(perRoundCpu),
        },
      };
    });

    printTable(rows);
    if (failed.length > 0) {
      for (const c of failed) console.error(`bench: CHECK FAILED: ${c.variant} ${c.stat} = ${c.value}, expected ${c.expected}`);
    } else {
      console.log(`bench: checks ok: every request answered 200 by the upstream through each Envoy, and counted by its filter`);
    }

    const result = {
      date: new Date(startedAt).toISOString(),
      duration_s: r1((Date.now() - startedAt) / 1000),
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? "?", kernel: os.release(), node: process.version, envoy: envoyVersion },
      settings: {
        requests_per_variant: o.requests,
        rounds: o.rounds,
        concurrency: o.concurrency,
        warmup_per_variant: o.warmup,
        round_warmup: roundWarmup,
        body_bytes: BODY.length,
        envoy_concurrency: 1,
        envoy_log_level: "info, wasm:info",
        rewrite_body_model: o.rewriteBody,
        model_router_config: JSON.parse(modelRouterConfig(o.rewriteBody)),
      },
      variants: rows,
      checks,
      filter_counters: filterCounters,
      ok: failed.length === 0,
    };
    mkdirSync(path.dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2) + "\n");
    console.log(`bench: ${path.relative(process.cwd(), o.out)} written; ${r1((Date.now() - startedAt) / 1000)} s`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
}

type Spread = { median: number; min: number; max: number };
interface Row {
  label: string;
  median_us: number;
  p90_us: number;
  throughput_rps: number;
  envoy_cpu_us_per_req: number;
  vs_plain: { median_ratio: number; throughput_ratio: number; added_median_us: number; added_median_us_rounds: Spread; envoy_cpu_ratio: number; added_envoy_cpu_us_per_req: number; added_envoy_cpu_us_per_req_rounds: Spread };
}

function printTable(rows: Row[]): void {
  const sp = (s: Spread) => `${s.median.toFixed(1)} [${s.min.toFixed(1)}..${s.max.toFixed(1)}]`;
  const head = ["variant", "median µs", "p90 µs", "req/s", "median ×", "req/s ×", "+median µs", "per round", "CPU µs/req", "CPU ×", "+CPU µs/req", "per round"];
  const body = rows.map((r, i) => [
    r.label,
    r.median_us.toFixed(1),
    r.p90_us.toFixed(1),
    r.throughput_rps.toFixed(0),
    r.vs_plain.median_ratio.toFixed(3),
    r.vs_plain.throughput_ratio.toFixed(3),
    i === 0 ? "" : r.vs_plain.added_median_us.toFixed(1),
    i === 0 ? "" : sp(r.vs_plain.added_median_us_rounds),
    r.envoy_cpu_us_per_req.toFixed(1),
    r.vs_plain.envoy_cpu_ratio.toFixed(3),
    i === 0 ? "" : r.vs_plain.added_envoy_cpu_us_per_req.toFixed(1),
    i === 0 ? "" : sp(r.vs_plain.added_envoy_cpu_us_per_req_rounds),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log("");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
  console.log("(latency: client-side, request start to last response byte; CPU: the Envoy process's threads, /proc schedstat;");
  console.log(" ×: ratio to plain Envoy; +: difference to plain Envoy, over all rounds, then the median [min..max] of the per-round differences)");
  console.log("");
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err instanceof UsageError ? `bench: ${err.message}\n${USAGE}` : err instanceof TimeLimit ? `bench: ${err.message}` : `bench: ${err.stack ?? err.message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
