// Drives a built module through the emulator for N requests of one kind and prints the time per
// request (whole emulator, and inside the guest only) and the host calls one request makes
// (with their arguments). For finding where the
// per-request cost of a filter goes; the numbers compare changes on one machine, not Envoy.
//
//   npx vite-node scripts/profile-emulator.ts -- [options]
//     --preset noop|router|cache-miss|cache-hit|token-bucket
//                            module, root id, configuration and bodies as in bench/variants.ts
//                            (default router); the cache's and token-bucket's presets answer
//                            with the bench upstream's JSON completion (which a cache miss
//                            stores, and whose usage settles token-bucket's reservation)
//     --module FILE          .wasm to load (overrides the preset's)
//     --root-id ID           root id (overrides the preset's)
//     --config JSON          plugin configuration (overrides the preset's)
//     --kind chat|get        chat: the bench's POST /v1/chat/completions with a 300-byte body,
//                            authorization and x-session-id; get: GET / without a body (default chat)
//     --requests N           timed requests (default 50000; 1..1000000), rounded up to whole
//                            batches of 1000, after --warmup W (default 5000; 0..1000000); then
//                            as many again (at most 20000, batches of 100) for the guest's time
//     --list                 print every host call of one request with its arguments
//     --cpu-prof FILE        write a V8 CPU profile (.cpuprofile) of the timed requests; wasm
//                            functions have names only in a module built with names (build:debug)
//
// Host calls are counted by wrapping the import object the emulator hands to WebAssembly.Instance
// (the emulator itself is not changed); counting is off while timing.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { Host } from "../host-tests/emulator";
import { requestBody, type BodyKind } from "../bench/request";
import { COMPLETION } from "../bench/upstream";
import { CACHE_CONFIG, TOKEN_BUCKET_CONFIG } from "../bench/variants";

const ROOT = path.resolve(import.meta.dirname, "..");

// ---- options

const ROUTER_CONFIG = JSON.stringify({
  sticky_key: "header",
  sticky_header: "x-session-id",
  rewrite_body_model: false,
  models: { llama: { versions: { v1: { cluster: "upstream", upstream_model: "llama-v1", weight: 90 }, v2: { cluster: "upstream", upstream_model: "llama-v2", weight: 10 } } } },
});
const PRESETS: Record<string, { module: string; rootId: string; config: string; bodies: BodyKind }> = {
  noop: { module: "build/noop.wasm", rootId: "noop", config: "{}", bodies: "plain" },
  router: { module: "build/ai-gateway.wasm", rootId: "model-router", config: ROUTER_CONFIG, bodies: "plain" },
  "cache-miss": { module: "build/ai-gateway.wasm", rootId: "inference-cache", config: JSON.stringify(CACHE_CONFIG), bodies: "unique-deterministic" },
  "cache-hit": { module: "build/ai-gateway.wasm", rootId: "inference-cache", config: JSON.stringify(CACHE_CONFIG), bodies: "same-deterministic" },
  "token-bucket": { module: "build/ai-gateway.wasm", rootId: "token-bucket", config: JSON.stringify(TOKEN_BUCKET_CONFIG), bodies: "plain" },
};

class UsageError extends Error {}

/** A whole number in min..max: "abc", "12.5" and "-1" are refused, not read as NaN or a fraction. */
function int(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`${flag}: expected an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return Number(v);
}

function parseArgs(argv: string[]) {
  const o = { preset: "router", module: "", rootId: "", config: "", kind: "chat", requests: 50_000, warmup: 5_000, list: false, cpuProf: "" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a}: missing value`);
      return v;
    };
    switch (a) {
      case "--": break;
      case "--preset": o.preset = next(); break;
      case "--module": o.module = next(); break;
      case "--root-id": o.rootId = next(); break;
      case "--config": o.config = next(); break;
      case "--kind": o.kind = next(); break;
      case "--requests": o.requests = int(a, next(), 1, 1_000_000); break;
      case "--warmup": o.warmup = int(a, next(), 0, 1_000_000); break;
      case "--list": o.list = true; break;
      case "--cpu-prof": o.cpuProf = next(); break;
      default: throw new UsageError(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  const preset = PRESETS[o.preset];
  if (preset === undefined) throw new UsageError(`--preset: expected ${Object.keys(PRESETS).join(" or ")}`);
  if (o.kind !== "chat" && o.kind !== "get") throw new UsageError("--kind: expected chat or get");
  return { ...o, module: path.resolve(ROOT, o.module || preset.module), rootId: o.rootId || preset.rootId, config: o.config || preset.config };
}

// ---- host-call counting: wrap the imports of every instance created from here on

interface CallLog {
  on: boolean;
  /** Accumulate time inside guest exports and inside host calls (ms). */
  timing: boolean;
  inGuest: number;
  inHost: number;
  calls: string[];
  metricNames: Map<number, string>;
  memory: WebAssembly.Memory | null;
}
const log: CallLog = { on: false, timing: false, inGuest: 0, inHost: 0, calls: [], metricNames: new Map(), memory: null };

const MAPS = ["request_headers", "request_trailers", "response_headers", "response_trailers", "grpc_initial", "grpc_trailing", "http_call_headers", "http_call_trailers"];
const BUFFERS = ["request_body", "response_body", "downstream_data", "upstream_data", "http_call_body", "grpc_message", "vm_config", "plugin_config", "call_data"];

function text(ptr: number, size: number): string {
  if (log.memory === null) return "?";
  return new TextDecoder().decode(new Uint8Array(log.memory.buffer, ptr >>> 0, size >>> 0));
}

/** One call as text, arguments decoded where the ABI says what they point at. */
function describe(name: string, a: Array<number | bigint>, result: unknown): string {
  const n = (i: number) => Number(a[i]);
  const q = (s: string) => JSON.stringify(s.length > 60 ? s.slice(0, 57) + "..." : s);
  let args: string;
  switch (name) {
    case "proxy_get_header_map_value":
    case "proxy_remove_header_map_value":
      args = `${MAPS[n(0)]}, ${q(text(n(1), n(2)))}`;
      break;
    case "proxy_replace_header_map_value":
    case "proxy_add_header_map_value":
      args = `${MAPS[n(0)]}, ${q(text(n(1), n(2)))}, ${q(text(n(3), n(4)))}`;
      break;
    case "proxy_get_header_map_pairs":
    case "proxy_get_header_map_size":
      args = MAPS[n(0)];
      break;
    case "proxy_get_property":
    case "proxy_get_shared_data":
      args = q(text(n(0), n(1)).replaceAll("\0", "."));
      break;
    case "proxy_log":
      args = `${n(0)}, ${q(text(n(1), n(2)))}`;
      break;
    case "proxy_increment_metric":
    case "proxy_record_metric":
      args = `${log.metricNames.get(n(0)) ?? n(0)}, ${a[1]}`;
      break;
    case "proxy_get_buffer_bytes":
    case "proxy_get_buffer_status":
    case "proxy_set_buffer_bytes":
      args = `${BUFFERS[n(0)]}, ${a.slice(1, 3).join(", ")}`;
      break;
    default:
      args = a.join(", ");
  }
  return `${name}(${args}) -> ${result}`;
}

function wrapImports(imports: Record<string, Record<string, unknown>>) {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [mod, fns] of Object.entries(imports)) {
    out[mod] = {};
    for (const [name, f] of Object.entries(fns)) {
      if (typeof f !== "function") {
        out[mod][name] = f;
        continue;
      }
      const fn = f as (...args: Array<number | bigint>) => unknown;
      out[mod][name] = (...args: Array<number | bigint>) => {
        const t0 = log.timing ? performance.now() : 0;
        const result = fn(...args);
        if (log.timing) log.inHost += performance.now() - t0;
        if (name === "proxy_define_metric" && log.memory !== null) {
          log.metricNames.set(new DataView(log.memory.buffer).getUint32(Number(args[3]), true), text(Number(args[1]), Number(args[2])));
        }
        if (log.on) log.calls.push(describe(mod === "env" ? name : `${mod}.${name}`, args, result));
        return result;
      };
    }
  }
  return out;
}

const Instance = WebAssembly.Instance;
(WebAssembly as { Instance: unknown }).Instance = function (module: WebAssembly.Module, imports: Record<string, Record<string, unknown>>) {
  const instance = new Instance(module, wrapImports(imports) as WebAssembly.Imports);
  const memory = instance.exports.memory;
  if (memory instanceof WebAssembly.Memory) log.memory = memory;
  // Exports timed while log.timing is set (nested calls are not expected: the host never
  // re-enters the guest during a host call).
  const exports: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(instance.exports)) {
    if (typeof value !== "function") {
      exports[name] = value;
      continue;
    }
    const fn = value as (...args: unknown[]) => unknown;
    exports[name] = (...args: unknown[]) => {
      if (!log.timing) return fn(...args);
      const t0 = performance.now();
      try {
        return fn(...args);
      } finally {
        log.inGuest += performance.now() - t0;
      }
    };
  }
  return { exports };
};

// ---- the request (the same as bench/run.ts sends)

const PLAIN_BODY = chatBody();
function chatBody(): Uint8Array {
  const base = { model: "llama", messages: [{ role: "system", content: "You are a terse assistant." }, { role: "user", content: "" }], max_tokens: 64, temperature: 0.2 };
  const empty = Buffer.byteLength(JSON.stringify(base));
  base.messages[1].content = "Summarise the benchmark in one sentence please. ".repeat(10).slice(0, 300 - empty);
  return Buffer.from(JSON.stringify(base));
}

// ---- main

const o = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (err) {
    // One line and exit 2 for a bad option: a stack trace would say nothing more.
    if (!(err instanceof UsageError)) throw err;
    console.error(`profile-emulator: ${err.message}`);
    process.exit(2);
  }
})();
const host = new Host({ logLevel: "info" });
log.on = false;
const vm = await host.loadVm(o.module, { vmId: "ai-gateway" });
const plugin = vm.startPlugin({ rootId: o.rootId, configuration: o.config, allowOnHeadersStopIteration: true });
if (!plugin.configured) throw new Error(`${o.rootId}: not configured: ${JSON.stringify(host.logs({ minLevel: "warn" }))}`);

const sessions = Array.from({ length: 16 }, (_, i) => `session-${i.toString().padStart(4, "0")}`);
let sent = 0;

/** One request step by step: request headers (+ body), response headers. */
function oneRequest(): void {
  const stream = plugin.newStream();
  const body = PRESETS[o.preset].bodies === "plain" ? PLAIN_BODY : requestBody(PRESETS[o.preset].bodies, sent);
  if (o.kind === "chat") {
    stream.requestHeaders(
      {
        ":method": "POST", ":path": "/v1/chat/completions", "content-type": "application/json", "content-length": String(body.length),
        authorization: "Bearer sk-bench-0000000000000000", "x-session-id": sessions[sent++ % sessions.length],
      },
      { endOfStream: false },
    );
    stream.requestBody(body, { endOfStream: true });
  } else {
    stream.requestHeaders({}, { endOfStream: true });
  }
  if (stream.upstreamRequest === undefined) {
    // Answered by the filter (a cache hit): nothing goes upstream.
    if (o.preset !== "cache-hit" || stream.localResponse === undefined) throw new Error(`request ${sent} did not reach the upstream: ${JSON.stringify(stream.localResponse)}`);
    if (!stream.finished) throw new Error("the stream did not finish");
    return;
  }
  if (o.preset.startsWith("cache") || o.preset === "token-bucket") {
    stream.responseHeaders({ ":status": "200", "content-type": "application/json", "content-length": String(COMPLETION.length) }, { endOfStream: false });
    stream.responseBody(COMPLETION, { endOfStream: true });
  } else {
    stream.responseHeaders({ ":status": "200" }, { endOfStream: true });
  }
  if (!stream.finished) throw new Error("the stream did not finish");
}

// One listed request (after one unlisted, so lazy first-request work does not show).
oneRequest();
log.calls = [];
log.on = true;
oneRequest();
log.on = false;
const perRequest = log.calls;
const counts = new Map<string, number>();
for (const c of perRequest) {
  const name = c.slice(0, c.indexOf("("));
  counts.set(name, (counts.get(name) ?? 0) + 1);
}

for (let i = 0; i < o.warmup; i++) oneRequest();
const session = o.cpuProf ? new Session() : null;
if (session) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 10 });
  await session.post("Profiler.start");
}
// Batches of 1000 requests; the machine may be busy, so the minimum, lower decile and median over
// batches are reported (a batch that was preempted only moves the upper end).
const batch = 1000;
// --requests rounded up to whole batches: what is timed, and what the output says.
const timed = Math.ceil(o.requests / batch) * batch;
const wall: number[] = [];
const cpu: number[] = [];
for (let done = 0; done < timed; done += batch) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < batch; i++) oneRequest();
  wall.push(((performance.now() - t0) * 1000) / batch);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / batch);
}
if (session) {
  const { profile } = await session.post("Profiler.stop");
  writeFileSync(o.cpuProf, JSON.stringify(profile));
  session.disconnect();
}

// Time inside the guest, host calls excluded, per batch of 100 (the minimum is the best estimate
// on a busy machine). Each timed call adds ~0.05 µs of timer reads: a module whose callbacks
// return at once shows ~0.5 µs for a request's ~9 callbacks.
const guest: number[] = [];
const inHost: number[] = [];
const small = 100;
for (let done = 0; done < Math.min(o.requests, 20_000); done += small) {
  log.inGuest = 0;
  log.inHost = 0;
  log.timing = true;
  for (let i = 0; i < small; i++) oneRequest();
  log.timing = false;
  guest.push(((log.inGuest - log.inHost) * 1000) / small);
  inHost.push((log.inHost * 1000) / small);
}
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(2);
  return `min ${at(0)}, p10 ${at(0.1)}, median ${at(0.5)}`;
};

console.log(`${path.relative(ROOT, o.module)} root ${o.rootId}, ${o.kind} requests: ${timed} timed in batches of ${batch}${timed !== o.requests ? ` (--requests ${o.requests}, rounded up)` : ""}`);
console.log(`  µs/request, wall: ${stats(wall)}; process CPU: ${stats(cpu)}`);
console.log(`  µs/request in the guest (exports minus host calls): ${stats(guest)}; in the emulator's host calls: ${stats(inHost)}`);
console.log(`  host calls per request: ${perRequest.length} (${[...counts].map(([n, c]) => `${n} ${c}`).join(", ")})`);
if (o.list) for (const c of perRequest) console.log(`    ${c}`);
if (o.cpuProf) console.log(`  CPU profile: ${o.cpuProf}`);
const errors = host.logs({ minLevel: "warn" });
if (errors.length > 0) console.log(`  warnings/errors logged: ${errors.length}, first: ${errors[0].message}`);
