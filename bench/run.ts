// `npm run bench`: per-request overhead of the Wasm filters, measured in one run against plain
// Envoy and against the two floors (bench/floors/: a minimal module whose entry points return at
// once, and a body floor that buffers the body, copies it into the VM once and sets the routing
// header), so each filter's cost is reported above its floor; beside the filters, the body floor
// plus only the host calls each one's required outputs force (bench/floors/calls-floor.ts),
// reported above the body floor too. One fast upstream (in this
// process) and one real Envoy per variant (bench/variants.ts; the process runner, Envoy 1.40 from
// scripts/install-envoy.sh), same settings otherwise. A keep-alive client in this process sends
// the same 300-byte chat request to each, in interleaved rounds (a b c, c b a, ...) so machine
// drift cancels, and reports latency, throughput and Envoy CPU time per request (from
// /proc/<pid>/task/*/schedstat). Then a short phase starts each variant's Envoy with
// --concurrency 2 and reads its resident memory. See bench/README.md.
//
//   npm run bench [-- --requests 3000 --rounds 10 --variants noop,model-router --update-readme]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { startEnvoy, type Envoy } from "../envoy/harness/envoy";
import { BUILD_DIR, ROOT, envoyBinary } from "../envoy/harness/paths";
import { FLOORS, buildFloors } from "./build-floors";
import { chartSvg, markdownTable, noiseCheck, noiseSentence, printRss, printTable, updateReadme, type Spread, type Unavailable, type VariantResult } from "./report";
import { childPids } from "./processes";
import { BODY, requestBody, requestHeaders } from "./request";
import { startBenchUpstream, type BenchUpstream } from "./upstream";
import { CLUSTER, ROUTE_HEADER, VARIANTS, aboveFloor, headerMismatch, modelRouterConfig, selectVariants, variantConfig, type Variant, type VariantContext } from "./variants";

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  requests: number;
  concurrency: number;
  rounds: number;
  warmup: number;
  maxSeconds: number;
  rewriteBody: boolean;
  variants: string[] | null;
  rssRequests: number;
  updateReadme: boolean;
  out: string;
}

const USAGE = `usage: npm run bench [-- options]
  --requests N       measured requests per variant, split over the rounds (default 3000; 100..200000,
                     and at least 20 per round)
  --concurrency C    requests in flight = client sockets per Envoy (default 4; 1..64)
  --rounds R         interleaved rounds (default 10; 1..50)
  --warmup W         unmeasured requests per variant before the rounds (default 1000; 0..100000)
  --variants a,b     the variants to run (default all: ${VARIANTS.map((v) => v.key).join(", ")});
                     plain Envoy and each one's floor are added
  --rss-requests N   memory phase: requests per variant before reading Envoy's RSS (default 1000;
                     0 skips the phase; 0..100000)
  --max-seconds S    hard limit on the whole run (default 180; 10..600)
  --rewrite-body     every variant that runs the router (model-router, model-router-again, pipeline, chain,
                     pipeline-chain, full-chain, pipeline-full) also rewrites the body's model (rewrite_body_model: true)
  --update-readme    write the results section of bench/README.md and bench/results.svg from this run
  --out FILE         results JSON (default build/bench-results.json; .md and .svg beside it)`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    requests: 3000, concurrency: 4, rounds: 10, warmup: 1000, maxSeconds: 180, rewriteBody: false, variants: null, rssRequests: 1000,
    updateReadme: false, out: path.join(BUILD_DIR, "bench-results.json"),
  };
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
      case "--variants": o.variants = (value() ?? "").split(",").map((x) => x.trim()).filter((x) => x !== ""); break;
      case "--rss-requests": o.rssRequests = int(flag, value(), 0, 100_000); break;
      case "--max-seconds": o.maxSeconds = int(flag, value(), 10, 600); break;
      case "--rewrite-body": o.rewriteBody = true; break;
      case "--update-readme": o.updateReadme = true; break;
      case "--out": {
        // Checked now, not when the results are written at the end of a run of minutes. A value
        // that starts with "--" is the next flag: the file name is missing.
        const v = value();
        if (v === undefined || v === "" || v.startsWith("--")) throw new UsageError(`--out: expected a file name, got ${v === undefined || v === "" ? "nothing" : JSON.stringify(v)}`);
        o.out = path.resolve(v);
        if (existsSync(o.out) && statSync(o.out).isDirectory()) throw new UsageError(`--out: ${JSON.stringify(v)} is a directory; expected a file name`);
        break;
      }
      case "-h": case "--help": console.log(USAGE); process.exit(0);
      default: throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (o.requests < o.rounds * 20) throw new UsageError(`--requests ${o.requests}: expected at least 20 per round (--rounds ${o.rounds})`);
  if (o.variants !== null && o.variants.length === 0) throw new UsageError(`--variants: expected a comma-separated list of ${VARIANTS.map((v) => v.key).join(", ")}`);
  return o;
}

class UsageError extends Error {}
class TimeLimit extends Error {}

// ---------------------------------------------------------------------------------------------
// The request: a 300-byte OpenAI chat body naming "llama", the same headers for every variant.



// ---------------------------------------------------------------------------------------------
// Processes: Envoy's pid (the harness spawns the binary directly) and its CPU time.

/** Pids of this process's children whose command is envoy. */
function envoyChildren(): Set<number> {
  return childPids(/^envoy/);
}

const CLK_TCK = 100; // Linux USER_HZ

interface Cpu {
  /** Sum over the process's threads of the time on CPU (schedstat), ns. */
  ns: number;
  /** utime + stime of the whole process (/proc/<pid>/stat), clock ticks. */
  ticks: number;
  /** stime alone: the part of `ticks` spent in the kernel. */
  sysTicks: number;
  /** Minor page faults of the whole process (/proc/<pid>/stat). */
  minflt: number;
  /** Sum over the threads of the times each was put on a CPU (schedstat's third field): wake-ups. */
  runs: number;
}

function processCpu(pid: number): Cpu {
  let ns = 0;
  let runs = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const sched = readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ");
      ns += Number(sched[0]);
      runs += Number(sched[2]);
    } catch {
      // a thread that just exited
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 10, 14 and 15 of stat(5) (minflt, utime, stime) are at 7, 11 and 12 after "pid (comm) ".
  return { ns, ticks: Number(fields[11]) + Number(fields[12]), sysTicks: Number(fields[12]), minflt: Number(fields[7]), runs };
}


/** VmRSS and VmHWM of a process (/proc/<pid>/status), MB. */
function processMemory(pid: number): { rssMb: number; hwmMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024 };
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
    const n = sent++;
    const headers = requestHeaders(n);
    const body = requestBody(t.variant.bodies ?? "plain", n);
    const t0 = process.hrtime.bigint();
    const req = http.request(
      {
        host: "127.0.0.1",
        port: t.envoy.listenerPort,
        method: "POST",
        path: "/v1/chat/completions",
        agent: t.agent,
        headers,
      },
      (res) => {
        let bytes = 0;
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => {
          const us = Number(process.hrtime.bigint() - t0) / 1_000;
          // A floor of required calls proves its response-header calls on every response.
          const missing = headerMismatch(t.variant.responseHeaders, res.headers);
          if (res.statusCode !== 200) reject(new Error(`${t.variant.label}: HTTP ${res.statusCode}, ${bytes} bytes (${res.headers["x-envoy-response-code-details"] ?? ""})`));
          else if (missing !== null) reject(new Error(`${t.variant.label}: a response without ${missing}`));
          else resolve(us);
        });
        res.on("error", reject);
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`${t.variant.label}: no response in ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(body);
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
  return { latUs, wallNs, envoyCpu: { ns: cpu1.ns - cpu0.ns, ticks: cpu1.ticks - cpu0.ticks, sysTicks: cpu1.sysTicks - cpu0.sysTicks, minflt: cpu1.minflt - cpu0.minflt, runs: cpu1.runs - cpu0.runs }, nodeCpuUs: node.user + node.system };
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

  let selection: ReturnType<typeof selectVariants>;
  try {
    selection = selectVariants(o.variants);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const vs = selection.variants;
  if (selection.added.length > 0) console.log(`bench: also running ${selection.added.join(", ")} (plain Envoy and the floors of the variants asked for)`);

  const bin = envoyBinary();
  const envoyVersion = execFileSync(bin, ["--version"], { encoding: "utf8", timeout: 30_000 }).trim().split("version: ").pop() ?? "?";
  // Every floor module (each is rebuilt only when its source changed): a variant names its module in wasm(ctx).
  const ctx: VariantContext = { rewriteBody: o.rewriteBody, floors: await buildFloors(Object.keys(FLOORS)) };
  for (const v of vs) {
    for (const f of v.wasm(ctx)) {
      if (!existsSync(path.join(ROOT, f))) throw new UsageError(`${f} is missing: run \`npm run build\` first`);
    }
  }

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
    targets.length = 0;
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      console.error(`bench: ${sig}; stopping the Envoys`);
      // 128 + the signal's number, as a shell reports a process the signal ended.
      void cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
    });
  }

  /** Starts a variant's Envoy; null (and a line) when Envoy refuses the config, e.g. a root_id the module lacks. */
  const launch = async (v: Variant, up: BenchUpstream, concurrency: number): Promise<{ envoy: Envoy; pid: number } | { unavailable: string }> => {
    const before = envoyChildren();
    let envoy: Envoy;
    try {
      envoy = await startEnvoy({
        runner: "process",
        name: `bench-${v.key}`,
        config: variantConfig(v, ctx, up.port),
        wasm: v.wasm(ctx),
        concurrency,
        logLevel: "info",
        componentLogLevel: "wasm:info",
        startTimeoutMs: 30_000,
      });
    } catch (err) {
      if (v.kind === "plain") throw err;
      return { unavailable: refusal((err as Error).message) };
    }
    const fresh = [...envoyChildren()].filter((p) => !before.has(p));
    if (fresh.length !== 1) {
      await envoy.stop();
      throw new Error(`could not tell the pid of the ${v.label} Envoy (new envoy children: ${fresh.join(", ") || "none"})`);
    }
    return { envoy, pid: fresh[0] };
  };

  try {
    upstream = await startBenchUpstream(ROUTE_HEADER, CLUSTER);
    console.log(`bench: Envoy ${envoyVersion}, ${os.cpus().length} CPUs; upstream 127.0.0.1:${upstream.port}; ` +
      `${o.requests} requests/variant in ${o.rounds} rounds, concurrency ${o.concurrency}, warm-up ${o.warmup}${o.rewriteBody ? ", the router rewrites the body in every variant that runs it" : ""}`);

    // The Envoys, one after another (so each new envoy child is the one just started).
    const unavailable: Unavailable[] = [];
    for (const v of vs) {
      const started = await launch(v, upstream, 1);
      if ("unavailable" in started) {
        unavailable.push({ key: v.key, label: v.label, reason: started.unavailable });
        console.log(`bench: ${v.label.padEnd(24)} UNAVAILABLE, left out: Envoy refused its config: ${started.unavailable}`);
        continue;
      }
      targets.push({ variant: v, envoy: started.envoy, pid: started.pid, agent: newAgent(o.concurrency), idle: { ns: 0, wallNs: 0 } });
      console.log(`bench: ${v.label.padEnd(24)} Envoy pid ${started.pid}, listener ${started.envoy.listenerUrl}`);
    }
    const ran = targets.map((t) => t.variant);

    // Warm-up: connections, V8 tiers, Envoy's pools; a bad config or route shows here.
    // Each variant's first request also shows what reached the upstream.
    for (const t of targets) {
      await phase(t, 1, 1, deadline);
      checkUpstream(t.variant, upstream, ctx);
    }
    if (o.warmup > 0) for (const t of targets) await phase(t, o.warmup, o.concurrency, deadline);

    // Interleaved rounds, the order reversed every other round (ABC CBA ...), so a drift of the
    // machine's speed during the run lands on every variant alike.
    const perRound = Array.from({ length: o.rounds }, (_, r) => Math.floor(o.requests / o.rounds) + (r < o.requests % o.rounds ? 1 : 0));
    const roundWarmup = Math.min(50, Math.ceil(o.requests / o.rounds / 10));
    const phases = new Map<string, Phase[]>(ran.map((v) => [v.key, []]));
    for (let r = 0; r < o.rounds; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) {
        await phase(t, roundWarmup, o.concurrency, deadline); // back on this Envoy: refill caches
        phases.get(t.variant.key)!.push(await phase(t, perRound[r], o.concurrency, deadline));
      }
    }

    // Sanity: every request went through Envoy and, where there is one, the filter; every
    // body-routed request reached the upstream carrying the header the filter set. (The floors of
    // required calls had every response checked for their headers as it came.)
    const sentPerVariant = 1 + o.warmup + o.rounds * roundWarmup + o.requests;
    const checks: { variant: string; stat: string; value: number; expected: number }[] = [];
    const filterCounters: Record<string, Record<string, number>> = {};
    for (const t of targets) {
      const v = t.variant;
      const rq = (await t.envoy.waitForStat("http.ingress_http.downstream_rq_2xx", sentPerVariant, { timeoutMs: 5_000 }).catch(() => undefined)) ?? (await t.envoy.stat("http.ingress_http.downstream_rq_2xx")) ?? 0;
      checks.push({ variant: v.key, stat: "http.ingress_http.downstream_rq_2xx", value: rq, expected: sentPerVariant });
      if (v.kind !== "plain") {
        // The module loaded into a V8 VM (the floors count nothing: this and the 2xx count must do).
        const vms = (await t.envoy.stat("wasm.envoy.wasm.runtime.v8.active")) ?? 0;
        checks.push({ variant: v.key, stat: "wasm.envoy.wasm.runtime.v8.active >= 1", value: Math.min(vms, 1), expected: 1 });
      }
      if (v.counters.length > 0) {
        const stats = await t.envoy.stats("^wasmcustom\\.");
        const handled = v.counters.reduce((s, name) => s + (stats.get(name) ?? 0), 0);
        filterCounters[v.key] = Object.fromEntries(v.counters.map((name) => [name, stats.get(name) ?? 0]));
        const expected = v.expectedCount ? v.expectedCount(sentPerVariant) : v.perRequest * sentPerVariant;
        checks.push({ variant: v.key, stat: `${v.counters.join(" + ")}${v.perRequest === 1 ? "" : ` (${v.perRequest} per request)`}`, value: handled, expected });
      }
    }
    const byHeader = ran.filter((v) => v.route === "by-header");
    const reaching = (v: Variant) => (v.upstream === "first" ? 1 : sentPerVariant);
    checks.push({ variant: "upstream", stat: "requests", value: upstream.count(), expected: ran.reduce((s, v) => s + reaching(v), 0) });
    checks.push({ variant: "upstream", stat: `requests with ${ROUTE_HEADER}: ${CLUSTER} (${byHeader.map((v) => v.key).join(", ") || "none"})`, value: upstream.countWith(), expected: byHeader.reduce((s, v) => s + reaching(v), 0) });
    const failed = checks.filter((c) => c.value !== c.expected);

    const rows = results(ran, phases, targets);
    printTable(rows);
    if (failed.length > 0) {
      for (const c of failed) console.error(`bench: CHECK FAILED: ${c.variant} ${c.stat} = ${c.value}, expected ${c.expected}`);
    } else {
      console.log(`bench: checks ok: every request answered 200 by the upstream through each Envoy, counted by its filter, body-routed ones routed by the header, each floor of required calls' headers on every response`);
    }
    for (const u of unavailable) console.log(`bench: ${u.label}: UNAVAILABLE (${u.reason})`);

    // Memory: each variant's Envoy alone, with two workers (each with its own copy of the VM),
    // after some requests. The timing Envoys stop first, so they neither hold memory nor CPU.
    await cleanup();
    const rssConcurrency = 2;
    if (o.rssRequests > 0) {
      console.log(`bench: memory phase: each Envoy with --concurrency ${rssConcurrency}, ${o.rssRequests} requests, then VmRSS`);
      for (const v of ran) {
        const started = await launch(v, upstream, rssConcurrency);
        if ("unavailable" in started) throw new Error(`${v.label}: Envoy refused the config with --concurrency ${rssConcurrency}: ${started.unavailable}`);
        const t: Target = { variant: v, envoy: started.envoy, pid: started.pid, agent: newAgent(o.concurrency), idle: { ns: 0, wallNs: 0 } };
        targets.push(t);
        await phase(t, o.rssRequests, o.concurrency, deadline);
        const mem = processMemory(t.pid);
        const row = rows.find((r) => r.key === v.key)!;
        row.rss = { vm_rss_mb: r1(mem.rssMb), vm_hwm_mb: r1(mem.hwmMb), added_mb: 0 };
        await cleanup();
      }
      const plainRss = rows.find((r) => r.kind === "plain")!.rss!.vm_rss_mb;
      for (const r of rows) if (r.rss) r.rss.added_mb = r1(r.rss.vm_rss_mb - plainRss);
      printRss(rows, rssConcurrency, o.rssRequests);
    }

    const result = {
      date: new Date(startedAt).toISOString(),
      duration_s: r1((Date.now() - startedAt) / 1000),
      command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim().replace(/ --$/, ""),
      machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? "?", kernel: os.release(), load_average: os.loadavg().map(r1), node: process.version, envoy: envoyVersion },
      settings: {
        requests_per_variant: o.requests,
        rounds: o.rounds,
        concurrency: o.concurrency,
        warmup_per_variant: o.warmup,
        round_warmup: roundWarmup,
        body_bytes: BODY.length,
        envoy_concurrency: 1,
        rss_envoy_concurrency: rssConcurrency,
        rss_requests: o.rssRequests,
        envoy_log_level: "info, wasm:info",
        rewrite_body_model: o.rewriteBody,
        model_router_config: modelRouterConfig(o.rewriteBody),
      },
      variants: rows,
      unavailable,
      noise_check: noiseCheck(rows),
      checks,
      filter_counters: filterCounters,
      ok: failed.length === 0,
    };
    const caption = `${result.date.slice(0, 10)}, ${result.command}; ${result.machine.cpus} CPUs, Envoy ${envoyVersion.split("/")[1] ?? envoyVersion}, --concurrency 1`;
    const noise = result.noise_check;
    const md = markdownTable(rows, unavailable) + (noise === null ? "" : `\n\n${noiseSentence(noise)}`);
    const svg = chartSvg(rows, unavailable, caption);
    const base = o.out.replace(/\.json$/, "");
    mkdirSync(path.dirname(o.out), { recursive: true });
    writeFileSync(o.out, JSON.stringify(result, null, 2) + "\n");
    writeFileSync(`${base}.md`, md + "\n");
    writeFileSync(`${base}.svg`, svg);
    console.log(md);
    console.log("");
    console.log(`bench: ${[o.out, `${base}.md`, `${base}.svg`].map((f) => path.relative(process.cwd(), f)).join(", ")} written; ${r1((Date.now() - startedAt) / 1000)} s`);
    if (o.updateReadme) {
      if (failed.length > 0) {
        console.error("bench: checks failed; bench/README.md and bench/results.svg left as they were");
      } else {
        writeFileSync(path.join(ROOT, "bench", "results.svg"), svg);
        updateReadme(path.join(ROOT, "bench", "README.md"), readmeSection(result.command, result.date, result.machine, md));
        console.log("bench: bench/README.md (results section) and bench/results.svg updated");
      }
    }
    return failed.length === 0 ? 0 : 1;
  } finally {
    clearTimeout(watchdog);
    await cleanup();
    await upstream?.close();
  }
}

function newAgent(concurrency: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
}

/** The line that says why Envoy refused a config (its first critical or error line), else the error's first line. */
function refusal(message: string): string {
  const lines = message.split("\n");
  const line = lines.find((l) => /\[critical\]/.test(l)) ?? lines.find((l) => /\[error\]/.test(l)) ?? lines[0];
  // Envoy's log prefix ([time][thread][level][component] [file:line]) and a Wasm log line's
  // "wasm log <filter> <root_id>: " say nothing here.
  return line.replace(/^(\[[^\]]*\]\s*)+/, "").replace(/^wasm log \S+ \S*: /, "").trim();
}

/** After a variant's first request: the body the upstream got, and the route header where the filter sets it. */
function checkUpstream(v: Variant, upstream: BenchUpstream, ctx: VariantContext): void {
  const model = /"model":"([^"]*)"/.exec(upstream.lastBody())?.[1];
  const want = v.upstreamModels(ctx);
  if (!model || !want.includes(model)) throw new Error(`${v.label}: the upstream got "model":"${model}", expected ${want.join(" or ")}`);
  const routed = upstream.lastHeaders()[ROUTE_HEADER];
  if (v.route === "by-header" && routed !== CLUSTER) throw new Error(`${v.label}: the upstream got ${ROUTE_HEADER}: ${routed}, expected ${CLUSTER}`);
  const missing = headerMismatch(v.upstreamHeaders, upstream.lastHeaders());
  if (missing !== null) throw new Error(`${v.label}: the upstream got a request without ${missing}`);
}

function readmeSection(command: string, date: string, machine: { cpus: number; cpu_model: string; kernel: string; load_average: number[]; node: string; envoy: string }, md: string): string {
  return [
    `${date.slice(0, 10)}, \`${command}\`: ${machine.cpus} CPUs (\`${machine.cpu_model}\`), kernel ${machine.kernel}, Node ${machine.node}, ` +
      `Envoy ${machine.envoy}, load average ${machine.load_average.join(" / ")} at the end. Written by \`--update-readme\`.`,
    "",
    md,
    "",
    "![Envoy CPU per request over plain Envoy, per variant; filters stacked on their floors](results.svg)",
  ].join("\n");
}

function results(ran: Variant[], phases: Map<string, Phase[]>, targets: Target[]): VariantResult[] {
  const summary = ran.map((v) => {
    const ps = phases.get(v.key)!;
    const t = targets.find((x) => x.variant.key === v.key)!;
    const all = sortedCopy(Float64Array.from(ps.flatMap((p) => Array.from(p.latUs))));
    const n = all.length;
    const wallNs = ps.reduce((s, p) => s + p.wallNs, 0);
    const cpuNs = ps.reduce((s, p) => s + p.envoyCpu.ns, 0);
    const ticks = ps.reduce((s, p) => s + p.envoyCpu.ticks, 0);
    const sysTicks = ps.reduce((s, p) => s + p.envoyCpu.sysTicks, 0);
    const minflt = ps.reduce((s, p) => s + p.envoyCpu.minflt, 0);
    const runs = ps.reduce((s, p) => s + p.envoyCpu.runs, 0);
    const nodeUs = ps.reduce((s, p) => s + p.nodeCpuUs, 0);
    return {
      v,
      n,
      median_us: quantile(all, 0.5),
      p90_us: quantile(all, 0.9),
      p99_us: quantile(all, 0.99),
      mean_us: all.reduce((s, x) => s + x, 0) / n,
      throughput_rps: n / (wallNs / 1e9),
      envoy_cpu_us_per_req: cpuNs / 1_000 / n,
      envoy_cpu_ticks_us_per_req: (ticks * (1e6 / CLK_TCK)) / n,
      envoy_kernel_share: ticks > 0 ? sysTicks / ticks : NaN,
      envoy_minor_faults_per_req: minflt / n,
      envoy_runs_per_req: runs / n,
      node_cpu_us_per_req: nodeUs / n,
      envoy_idle_cpu_us_per_s: t.idle.wallNs > 0 ? t.idle.ns / 1_000 / (t.idle.wallNs / 1e9) : NaN,
      // Unrounded, for the per-round differences.
      rounds: ps.map((p) => {
        const s = sortedCopy(p.latUs);
        return { requests: s.length, median_us: quantile(s, 0.5), p90_us: quantile(s, 0.9), throughput_rps: s.length / (p.wallNs / 1e9), envoy_cpu_us_per_req: p.envoyCpu.ns / 1_000 / s.length };
      }),
    };
  });
  const byKey = new Map(summary.map((s) => [s.v.key, s]));
  const plain = byKey.get("plain")!;
  // Paired per-round differences: each round ran every variant back to back, so a round's
  // difference is measured under one machine state; their median shrugs off a disturbed round.
  const spread = (xs: number[]): Spread => {
    const sorted = Float64Array.from(xs).sort();
    return { median: r1(quantile(sorted, 0.5)), min: r1(sorted[0]), max: r1(sorted[sorted.length - 1]) };
  };
  type Summary = (typeof summary)[number];
  const cpuRounds = (s: Summary, ref: Summary) => s.rounds.map((r, i) => r.envoy_cpu_us_per_req - ref.rounds[i].envoy_cpu_us_per_req);
  return summary.map((s): VariantResult => {
    const floor = aboveFloor(s.v) ? byKey.get(s.v.floor!) : undefined;
    return {
      key: s.v.key,
      label: s.v.label,
      kind: s.v.kind,
      floor: s.v.floor,
      requests: s.n,
      median_us: r1(s.median_us),
      p90_us: r1(s.p90_us),
      p99_us: r1(s.p99_us),
      mean_us: r1(s.mean_us),
      throughput_rps: r1(s.throughput_rps),
      envoy_cpu_us_per_req: r1(s.envoy_cpu_us_per_req),
      envoy_cpu_ticks_us_per_req: r1(s.envoy_cpu_ticks_us_per_req),
      envoy_kernel_share: Math.round(s.envoy_kernel_share * 1000) / 1000,
      envoy_minor_faults_per_req: Math.round(s.envoy_minor_faults_per_req * 1000) / 1000,
      envoy_runs_per_req: Math.round(s.envoy_runs_per_req * 1000) / 1000,
      node_cpu_us_per_req: r1(s.node_cpu_us_per_req),
      envoy_idle_cpu_us_per_s: r1(s.envoy_idle_cpu_us_per_s),
      rounds: s.rounds.map((r) => ({ requests: r.requests, median_us: r1(r.median_us), p90_us: r1(r.p90_us), throughput_rps: r1(r.throughput_rps), envoy_cpu_us_per_req: r1(r.envoy_cpu_us_per_req) })),
      vs_plain: {
        median_ratio: r3(s.median_us / plain.median_us),
        p90_ratio: r3(s.p90_us / plain.p90_us),
        throughput_ratio: r3(s.throughput_rps / plain.throughput_rps),
        added_median_us: r1(s.median_us - plain.median_us),
        added_median_us_rounds: spread(s.rounds.map((r, i) => r.median_us - plain.rounds[i].median_us)),
        envoy_cpu_ratio: r3(s.envoy_cpu_us_per_req / plain.envoy_cpu_us_per_req),
        added_envoy_cpu_us_per_req: r1(s.envoy_cpu_us_per_req - plain.envoy_cpu_us_per_req),
        added_envoy_cpu_us_per_req_rounds: spread(cpuRounds(s, plain)),
      },
      vs_floor: floor
        ? { floor: floor.v.key, added_envoy_cpu_us_per_req: r1(s.envoy_cpu_us_per_req - floor.envoy_cpu_us_per_req), added_envoy_cpu_us_per_req_rounds: spread(cpuRounds(s, floor)) }
        : null,
      rss: null,
    };
  });
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(err instanceof UsageError ? `bench: ${err.message}\n${USAGE}` : err instanceof TimeLimit ? `bench: ${err.message}` : `bench: ${err.stack ?? err.message}`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
