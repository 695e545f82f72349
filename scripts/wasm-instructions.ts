// Instructions per request of each function of the module, counted, not sampled: runs
// scripts/profile-emulator.ts under valgrind's callgrind with V8 writing a perf map of its
// generated code (`--perf-basic-prof`; `--no-liftoff` compiles the module with TurboFan up
// front, as Envoy's V8 does), then attributes every instruction callgrind counted in generated
// code to the module function whose code holds it. Deterministic where sampling (`--cpu-prof`)
// is not; use it to find where the module's own instructions go, and measure a change in Envoy
// with `npm run bench:instructions`: Node's V8 is not Envoy's, so per-function counts here differ
// from Envoy's by up to a few tens of percent (a lookup loop's register allocation, say), while
// the total is close (the pipeline router: about 14.5 k here, about 13.0 k of module code in
// Envoy).
//
//   npx vite-node scripts/wasm-instructions.ts -- [profile-emulator options] [--top N] [--cache-sim]
//
// The presets are profile-emulator's (default router: model-router as its own entry). No preset
// runs the router as a pipeline stage (the bench's `pipeline`); its root id and configuration do:
//
//   npx vite-node scripts/wasm-instructions.ts -- --root-id ai-gateway --config '{"model_router":
//     {"sticky_key": "header", "sticky_header": "x-session-id", "model_headers": false, "models": {"llama":
//     {"versions": {"v1": {"cluster": "upstream", "upstream_model": "llama-v1", "weight": 90},
//     "v2": {"cluster": "upstream", "upstream_model": "llama-v2", "weight": 10}}}}}}'
//
// Per function: instructions and calls per request, and the 64-byte lines of its code that ran
// in the whole run; `--cache-sim` adds callgrind's cache model and each function's L1
// instruction misses per request (the module's code is cold at each callback, so these follow
// the lines a request runs more than its instructions).
//
// The module is built with function names into build/profile/ (release options, as shipped);
// the callgrind dump and V8's perf map stay there.
// Needs valgrind (`apt-get install valgrind`). A run makes about 8,000 requests (profile-emulator's
// 2,000 warm-up and 3,000 timed, then the same 3,000 again for the guest's time) and takes about
// two to three minutes.
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const OUT = path.join(ROOT, "build", "profile");
const MODULE = path.join(OUT, "ai-gateway.names.wasm");

class UsageError extends Error {}

function options(argv: string[]): { top: number; cacheSim: boolean; pass: string[] } {
  const pass: string[] = [];
  let top = 40;
  let cacheSim = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--") continue;
    if (argv[i] === "--top") {
      const v = argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 10_000) throw new UsageError(`--top: expected an integer 1..10000, got ${v === undefined ? "nothing" : JSON.stringify(v)}`);
      top = Number(v);
    } else if (argv[i] === "--cache-sim") cacheSim = true;
    else if (argv[i] === "--requests" || argv[i] === "--warmup" || argv[i] === "--module" || argv[i] === "--cpu-prof") throw new UsageError(`${argv[i]}: set by this script`);
    else pass.push(argv[i]);
  }
  return { top, cacheSim, pass };
}

/** A perf map: start, size and name of each piece of generated code, sorted by start. */
function readPerfMap(file: string): { start: number; end: number; name: string }[] {
  const out: { start: number; end: number; name: string }[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m === null) continue;
    const start = parseInt(m[1], 16);
    out.push({ start, end: start + parseInt(m[2], 16), name: m[3] });
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * Instructions per address from a callgrind dump made with `--dump-instr=yes` (positions
 * `instr line`; a cost line after `calls=` is the call's inclusive cost, not the line's own), and
 * with `--cache-sim=yes` the instruction fetches that missed the simulated L1 (event I1mr).
 */
function readCosts(file: string): { ir: Map<number, number>; i1Misses: Map<number, number> } {
  const ir = new Map<number, number>();
  const i1Misses = new Map<number, number>();
  let i1At = -1;
  let pos = 0;
  let callCost = false;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("events: ")) {
      i1At = line.slice("events: ".length).trim().split(/\s+/).indexOf("I1mr");
      continue;
    }
    if (line.startsWith("calls=")) {
      callCost = true;
      continue;
    }
    const c = line.charCodeAt(0);
    const isCost = (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42; // digit + - *
    if (!isCost) continue;
    const parts = line.split(" ");
    const p = parts[0];
    if (p.startsWith("0x")) pos = parseInt(p, 16);
    else if (p.startsWith("+")) pos += Number(p.slice(1));
    else if (p.startsWith("-")) pos -= Number(p.slice(1));
    if (callCost) {
      callCost = false;
      continue;
    }
    if (parts.length < 3) continue;
    ir.set(pos, (ir.get(pos) ?? 0) + Number(parts[2]));
    if (i1At >= 0 && parts.length > 2 + i1At) i1Misses.set(pos, (i1Misses.get(pos) ?? 0) + Number(parts[2 + i1At]));
  }
  return { ir, i1Misses };
}

function main(): void {
  let parsed: ReturnType<typeof options>;
  try {
    parsed = options(process.argv.slice(2));
  } catch (err) {
    // One line and exit 2 for a bad option: a stack trace would say nothing more.
    if (!(err instanceof UsageError)) throw err;
    console.error(`wasm-instructions: ${err.message}`);
    process.exit(2);
  }
  const { top, cacheSim, pass } = parsed;
  try {
    execFileSync("valgrind", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("valgrind not found: apt-get install valgrind");
  }
  mkdirSync(OUT, { recursive: true });
  execFileSync("npx", ["asc", "build/entries/ai-gateway.ts", "--config", "asconfig.json", "--target", "release", "--debug", "--outFile", MODULE], { cwd: ROOT, stdio: "inherit" });
  for (const f of readdirSync(OUT)) if (f.startsWith("callgrind.")) rmSync(path.join(OUT, f));
  const run = spawnSync("valgrind", [
    "--tool=callgrind", "--dump-instr=yes", ...(cacheSim ? ["--cache-sim=yes"] : []), `--callgrind-out-file=${path.join(OUT, "callgrind.%p")}`,
    // --perf-basic-prof also starts V8's log, which would land in the working directory.
    process.execPath, "--perf-basic-prof", "--no-liftoff", "--no-logfile-per-isolate", `--logfile=${path.join(OUT, "v8.log")}`,
    path.join(ROOT, "node_modules", "vite-node", "vite-node.mjs"),
    path.join(ROOT, "scripts", "profile-emulator.ts"), "--", ...pass, "--module", MODULE, "--requests", "3000", "--warmup", "2000",
  ], { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`the profiled run failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  process.stdout.write(run.stdout);
  const dump = readdirSync(OUT).find((f) => f.startsWith("callgrind."));
  if (dump === undefined) throw new Error("callgrind wrote no dump");
  const pid = dump.slice("callgrind.".length);
  const mapFile = `/tmp/perf-${pid}.map`;
  if (!existsSync(mapFile) || statSync(mapFile).size === 0) throw new Error(`V8 wrote no perf map (${mapFile})`);
  const map = readPerfMap(mapFile);
  // Kept beside the dump (build/profile/perf.map) for a closer look at one function's addresses.
  copyFileSync(mapFile, path.join(OUT, "perf.map"));
  rmSync(mapFile);
  const { ir: costs, i1Misses } = readCosts(path.join(OUT, dump));

  // Per module function: instructions, calls (the count of its first instruction), the 64-byte
  // lines of its code that ran (its footprint in the instruction cache), and with --cache-sim
  // its fetches that missed L1.
  const byFunction = new Map<string, { instructions: number; calls: number; lines: Set<number>; i1Misses: number }>();
  const starts = map.map((m) => m.start);
  for (const [addr, n] of costs) {
    let lo = 0;
    let hi = starts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid] <= addr) { at = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (at < 0 || addr >= map[at].end) continue;
    const name = map[at].name.replace(/^JS:/, "").replace(/-\d+-turbofan$/, "");
    if (!/^(assembly|plugins|~lib|build)\//.test(name)) continue;
    const f = byFunction.get(name) ?? { instructions: 0, calls: 0, lines: new Set<number>(), i1Misses: 0 };
    f.instructions += n;
    f.lines.add(Math.floor(addr / 64));
    f.i1Misses += i1Misses.get(addr) ?? 0;
    if (addr === map[at].start) f.calls += n;
    byFunction.set(name, f);
  }
  // Requests: the calls of proxy_on_request_headers (warm-up, timed and listed ones alike).
  const requests = byFunction.get("assembly/abi/exports/proxy_on_request_headers")?.calls ?? 0;
  if (requests === 0) throw new Error("no request reached the module");
  const all = [...byFunction.values()];
  const total = all.reduce((s, f) => s + f.instructions, 0);
  const lines = all.reduce((s, f) => s + f.lines.size, 0);
  const misses = all.reduce((s, f) => s + f.i1Misses, 0);
  console.log(`\n${requests} requests; the module's code: ${(total / requests).toFixed(0)} instructions per request in ${lines} lines of 64 bytes (${(lines * 64 / 1024).toFixed(1)} KiB)` +
    `${cacheSim ? `, ${(misses / requests).toFixed(0)} L1 instruction misses per request` : ""} (Node ${process.versions.node}, V8 ${process.versions.v8})\n`);
  console.log(`| instructions per request | calls per request | code lines run |${cacheSim ? " L1i misses per request |" : ""} function |`);
  console.log(`| ---: | ---: | ---: |${cacheSim ? " ---: |" : ""} --- |`);
  for (const [name, f] of [...byFunction].sort((a, b) => b[1].instructions - a[1].instructions).slice(0, top)) {
    console.log(`| ${(f.instructions / requests).toFixed(0)} | ${(f.calls / requests).toFixed(1)} | ${f.lines.size} |${cacheSim ? ` ${(f.i1Misses / requests).toFixed(1)} |` : ""} ${name} |`);
  }
}

main();
