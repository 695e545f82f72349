// `npm run bench:instructions`: the same variants as `npm run bench`, counted in CPU instructions
// instead of CPU time. Each variant's Envoy runs under valgrind's callgrind with instrumentation
// off while it starts and warms up; then instrumentation goes on, the counters are zeroed, a
// fixed number of requests is sent one at a time, and the counters are dumped. Instructions per
// request do not depend on what else the machine is doing, so two runs agree to a fraction of a
// percent and a change of a few hundred instructions per request shows, where the timed bench
// on a shared 2-core machine moves by several µs from run to run. Slow (callgrind runs Envoy
// some 50 times slower): a few hundred requests per variant. Needs valgrind
// (`apt-get install valgrind`); the Envoy binary is the one scripts/install-envoy.sh installs.
//
//   npm run bench:instructions                         # all variants, 300 requests each
//   npm run bench:instructions -- --variants model-router --requests 500
//   npm run bench:instructions -- --cache-sim          # also simulated L1 cache misses per request
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { startEnvoy, type Envoy } from "../envoy/harness/envoy";
import { BUILD_DIR, ROOT, envoyBinary } from "../envoy/harness/paths";
import { FLOORS, buildFloors } from "./build-floors";
import { childPids } from "./processes";
import { requestBody, requestHeaders } from "./request";
import { startBenchUpstream } from "./upstream";
import { CLUSTER, NOISE_PAIR, ROUTE_HEADER, VARIANTS, aboveFloor, headerMismatch, selectVariants, variantConfig, type Variant, type VariantContext } from "./variants";

const OUT_DIR = path.join(BUILD_DIR, "bench", "callgrind");

class UsageError extends Error {}

/** A whole number in min..max, as bench/run.ts takes them: "12.5", "abc", "-1" and a missing value are refused. */
function int(flag: string, v: string | undefined, min: number, max: number): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`${flag}: expected an integer ${min}..${max}, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
  }
  return Number(v);
}

function args(argv: string[]): { requests: number; warmup: number; variants: string[] | null; cacheSim: boolean } {
  // 1000 unmeasured requests first: the cache's 256 slots are then nearly all taken, so a miss's
  // slot read finds another key's entry, as it does in steady state (with 100, most found none).
  const o = { requests: 300, warmup: 1000, variants: null as string[] | null, cacheSim: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") continue;
    if (a === "--cache-sim") {
      o.cacheSim = true;
      continue;
    }
    const v = argv[++i];
    if (a === "--requests") o.requests = int(a, v, 10, 10_000);
    // At least one: the check of what reached the upstream reads the last warm-up request's headers.
    else if (a === "--warmup") o.warmup = int(a, v, 1, 100_000);
    else if (a === "--variants") {
      o.variants = (v ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "");
      if (o.variants.length === 0) throw new UsageError(`--variants: expected a comma-separated list of ${VARIANTS.map((x) => x.key).join(", ")}`);
    } else throw new UsageError(`unknown option ${a} (use --requests N, --warmup N, --variants a,b, --cache-sim)`);
  }
  return o;
}

function send(envoy: Envoy, n: number, v: Variant): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port: envoy.listenerPort, method: "POST", path: "/v1/chat/completions", headers: requestHeaders(n) },
      (res) => {
        res.resume();
        // A floor of required calls proves its response-header calls on every response.
        const missing = headerMismatch(v.responseHeaders, res.headers);
        res.on("end", () => {
          if (res.statusCode !== 200) reject(new Error(`${v.label}: HTTP ${res.statusCode}`));
          else if (missing !== null) reject(new Error(`${v.label}: a response without ${missing}`));
          else resolve();
        });
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error("no response in 60 s")));
    req.on("error", reject);
    req.end(requestBody(v.bodies ?? "plain", n));
  });
}

/** The newest callgrind dump of `pid`. */
function newestDump(pid: number): string {
  const files = readdirSync(OUT_DIR).filter((f) => f.startsWith(`cg.${pid}.`)).sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()));
  return path.join(OUT_DIR, files[files.length - 1]);
}

/** The totals of a callgrind dump by event name (Ir; with --cache-sim=yes also I1mr, D1mr, D1mw, ILmr, DLmr, DLmw). */
function dumpedTotals(file: string): Map<string, number> {
  const text = readFileSync(file, "utf8");
  const events = /^events: (.*)$/m.exec(text);
  const totals = /^(?:totals|summary): (.*)$/m.exec(text);
  if (!events || !totals) throw new Error(`no totals in ${file}`);
  const values = totals[1].trim().split(/\s+/).map(Number);
  return new Map(events[1].trim().split(/\s+/).map((name, i) => [name, values[i] ?? 0]));
}

/** L1 misses (instruction fetch, data read and write) and last-level misses of a dump made with --cache-sim=yes. */
function cacheMisses(totals: Map<string, number>): { l1: number; ll: number } {
  const sum = (names: string[]) => names.reduce((n, name) => n + (totals.get(name) ?? 0), 0);
  return { l1: sum(["I1mr", "D1mr", "D1mw"]), ll: sum(["ILmr", "DLmr", "DLmw"]) };
}

/**
 * Instructions of a dump that ran in code V8 generated at run time: the module's functions as
 * TurboFan compiled them (proxy-wasm-cpp-host starts V8 with --no-liftoff) and the small wrappers
 * between them and the host. callgrind knows no object or symbol for that code, and V8 places it
 * far above the Envoy binary's mapping; everything else (Envoy, V8's runtime and builtins, libc)
 * is the host's. The split tells whether a filter's cost is its own code or the host calls it
 * makes.
 */
function generatedCodeInstructions(file: string): number {
  const out = execFileSync("callgrind_annotate", ["--threshold=100", "--inclusive=no", file], { encoding: "utf8", maxBuffer: 64 << 20 });
  let sum = 0;
  for (const line of out.split("\n")) {
    const m = /^\s*([\d,]+) \(.*\?\?\?:0x([0-9a-f]+) \[\?\?\?\]\s*$/.exec(line);
    if (m && parseInt(m[2], 16) >= 2 ** 32) sum += Number(m[1].replace(/,/g, ""));
  }
  return sum;
}

async function main(): Promise<void> {
  const o = args(process.argv.slice(2));
  let variants: Variant[];
  try {
    // Instructions do not vary from run to run: the timed bench's noise check (a variant run
    // twice) would only count the same again, unless asked for by name.
    variants = selectVariants(o.variants).variants.filter((v) => o.variants !== null || v.key !== NOISE_PAIR[1]);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("valgrind is missing: apt-get install -y valgrind");
  }
  const ctx: VariantContext = { rewriteBody: false, floors: await buildFloors(Object.keys(FLOORS)) };
  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const wrapper = path.join(OUT_DIR, "envoy-callgrind.sh");
  writeFileSync(wrapper, `#!/bin/sh\nexec valgrind --tool=callgrind${o.cacheSim ? " --cache-sim=yes" : ""} --instr-atstart=no --smc-check=all-non-file --callgrind-out-file=${OUT_DIR}/cg.%p ${envoyBinary()} "$@"\n`);
  chmodSync(wrapper, 0o755);
  process.env.ENVOY_BIN = wrapper;

  const upstream = await startBenchUpstream(ROUTE_HEADER, CLUSTER);
  const perRequest = new Map<string, number>();
  const generatedPerRequest = new Map<string, number>();
  const missesPerRequest = new Map<string, { l1: number; ll: number }>();
  let sent = 0;
  try {
    for (const v of variants) {
      const before = childPids(/callgrind|valgrind/);
      const envoy = await startEnvoy({
        runner: "process",
        name: `instructions-${v.key}`,
        config: variantConfig(v, ctx, upstream.port),
        wasm: v.wasm(ctx),
        concurrency: 1,
        logLevel: "info",
        componentLogLevel: "wasm:info",
        startTimeoutMs: 600_000,
      });
      try {
        const pids = [...childPids(/callgrind|valgrind/)].filter((p) => !before.has(p));
        if (pids.length !== 1) throw new Error(`could not tell the pid of the ${v.label} Envoy`);
        const pid = pids[0];
        for (let i = 0; i < o.warmup; i++) await send(envoy, sent++, v);
        const missing = headerMismatch(v.upstreamHeaders, upstream.lastHeaders());
        if (missing !== null) throw new Error(`${v.label}: the upstream got a request without ${missing}`);
        execFileSync("callgrind_control", ["--instr=on", String(pid)], { stdio: "ignore" });
        // Instrumenting a running process flushes valgrind's translations: warm those up again.
        for (let i = 0; i < 20; i++) await send(envoy, sent++, v);
        execFileSync("callgrind_control", ["-z", String(pid)], { stdio: "ignore" });
        for (let i = 0; i < o.requests; i++) await send(envoy, sent++, v);
        execFileSync("callgrind_control", ["-d", String(pid)], { stdio: "ignore" });
        const dump = newestDump(pid);
        const totals = dumpedTotals(dump);
        const ir = totals.get("Ir")! / o.requests;
        if (o.cacheSim) {
          const m = cacheMisses(totals);
          missesPerRequest.set(v.key, { l1: m.l1 / o.requests, ll: m.ll / o.requests });
        }
        const generated = generatedCodeInstructions(dump) / o.requests;
        perRequest.set(v.key, ir);
        generatedPerRequest.set(v.key, generated);
        console.log(`bench: ${v.label.padEnd(24)} ${Math.round(ir).toLocaleString("en").padStart(10)} instructions per request, ${Math.round(generated).toLocaleString("en").padStart(8)} in the module's code`);
      } finally {
        await envoy.stop();
      }
    }
  } finally {
    await upstream.close();
  }

  const plain = perRequest.get("plain") ?? 0;
  const k = (n: number) => (n / 1000).toFixed(1);
  console.log("");
  console.log("| Variant | floor | instructions per request (k) | over plain (k) | over floor (k) | of which the module's code (k) | of which the host (k) |");
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const v of variants as Variant[]) {
    const ir = perRequest.get(v.key)!;
    const floor = v.floor !== null ? perRequest.get(v.floor) : undefined;
    const isFilter = aboveFloor(v) && floor !== undefined;
    const overFloor = isFilter ? `**${k(ir - floor!)}**` : "";
    const generated = generatedPerRequest.get(v.key)! - (isFilter ? generatedPerRequest.get(v.floor!)! : 0);
    const host = ir - (isFilter ? floor! : plain) - generated;
    const split = v.kind === "plain" ? "|  |  |" : `| ${k(generated)} | ${k(host)} |`;
    console.log(`| ${v.label} | ${v.floor ?? ""} | ${k(ir)} | ${v.kind === "plain" ? "" : k(ir - plain)} | ${overFloor} ${split}`);
  }
  // Each filter beside the floor of its required calls: how much of its cost above the body
  // floor those calls alone take.
  const shadowed = variants.filter((v) => v.shadows !== undefined && perRequest.has(v.shadows) && v.floor !== null && perRequest.has(v.floor));
  if (shadowed.length > 0) {
    console.log("");
    console.log("| Filter | over its floor (k) | its required calls over the body floor (k) | share |");
    console.log("| --- | --- | --- | --- |");
    for (const c of shadowed) {
      const f = variants.find((v) => v.key === c.shadows)!;
      const filterOver = perRequest.get(f.key)! - perRequest.get(f.floor!)!;
      const callsOver = perRequest.get(c.key)! - perRequest.get(c.floor!)!;
      console.log(`| ${f.label} | ${k(filterOver)} | ${k(callsOver)} | ${Math.round((100 * callsOver) / filterOver)} % |`);
    }
  }
  if (o.cacheSim) {
    // callgrind's cache model (its L1 and last level, set from this machine's caches): where a
    // variant touches more code and data per request than its floor, not how long that takes.
    console.log("");
    console.log("| Variant | floor | L1 misses per request | over plain | over floor | last-level misses per request |");
    console.log("| --- | --- | --- | --- | --- | --- |");
    const plainMisses = missesPerRequest.get("plain")?.l1 ?? 0;
    for (const v of variants as Variant[]) {
      const m = missesPerRequest.get(v.key)!;
      const floor = v.floor !== null ? missesPerRequest.get(v.floor) : undefined;
      const over = aboveFloor(v) && floor !== undefined ? `**${Math.round(m.l1 - floor.l1)}**` : "";
      console.log(`| ${v.label} | ${v.floor ?? ""} | ${Math.round(m.l1)} | ${v.kind === "plain" ? "" : Math.round(m.l1 - plainMisses)} | ${over} | ${Math.round(m.ll)} |`);
    }
  }
  writeFileSync(path.join(OUT_DIR, "instructions.json"), JSON.stringify({
    instructionsPerRequest: Object.fromEntries(perRequest),
    generatedCodePerRequest: Object.fromEntries(generatedPerRequest),
    ...(o.cacheSim ? { cacheMissesPerRequest: Object.fromEntries(missesPerRequest) } : {}),
  }, null, 2) + "\n");
  if (!existsSync(ROOT)) throw new Error("unreachable");
}

main().catch((err) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
