// The tests' rate-limit service (envoy/ratelimit-service/server.py): Envoy's gRPC
// RateLimitService over fixed windows in Redis, counted as envoyproxy/ratelimit counts them, on a
// free loopback port. It counts in a shared store's Redis (startSharedStore: a real redis-server on
// loopback), its own unless a test passes one, logging in as a Redis user of its own that may only
// INCRBY, EXPIRE and PING. A small gRPC client (node:http2, the few protobuf messages encoded by
// hand) serves the tests and the readiness check. A missing venv is a MissingToolError that names
// the install command: the suite fails, it never skips.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import http2 from "node:http2";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { MissingToolError, repoPath } from "./paths";
import { LogSink, logPath, sleep } from "./prepare";
import { startSharedStore, type SharedStore } from "./shared-store";

export const RATELIMIT_SERVICE_DIR = "envoy/ratelimit-service";

const INSTALL_HINT = "run `bash scripts/install-ratelimit.sh` (or `bash scripts/install-deps.sh`, which runs it)";

/** Seconds per `unit` of a limits config, as envoyproxy/ratelimit's UnitToDivider. */
export const RATELIMIT_UNIT_SECONDS = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86_400,
  week: 604_800,
  month: 2_592_000,
  year: 31_536_000,
} as const;

export type RatelimitUnit = keyof typeof RATELIMIT_UNIT_SECONDS;

/** The proto enum `RateLimitResponse.RateLimit.Unit` by number. */
const UNIT_BY_NUMBER: Record<number, RatelimitUnit | "unknown"> = { 0: "unknown", 1: "second", 2: "minute", 3: "hour", 4: "day", 5: "month", 6: "year", 7: "week" };
const CODE_BY_NUMBER: Record<number, RatelimitCode> = { 0: "UNKNOWN", 1: "OK", 2: "OVER_LIMIT" };

export type RatelimitCode = "UNKNOWN" | "OK" | "OVER_LIMIT";

export interface RatelimitDescriptor {
  entries: { key: string; value: string }[];
  /** The descriptor's own hits_addend (0: check only); absent: the request's, else 1. */
  hitsAddend?: number;
}

export interface RatelimitRequest {
  domain: string;
  descriptors: RatelimitDescriptor[];
  /** The request-wide hits_addend (0, the proto default, counts as 1). */
  hitsAddend?: number;
}

export interface RatelimitDescriptorStatus {
  code: RatelimitCode;
  /** Absent when no limit matched the descriptor. */
  currentLimit?: { requestsPerUnit: number; unit: RatelimitUnit | "unknown"; name: string };
  limitRemaining: number;
  /** Seconds to the window's end. */
  durationUntilReset?: number;
}

export interface RatelimitResponse {
  overallCode: RatelimitCode;
  statuses: RatelimitDescriptorStatus[];
}

/** A gRPC call that ended with a status other than OK. */
export class GrpcError extends Error {
  override name = "GrpcError";
  constructor(
    readonly code: number,
    readonly grpcMessage: string,
  ) {
    super(`gRPC status ${code}: ${grpcMessage}`);
  }
}

export interface RatelimitServiceOptions {
  /** Limits configs in envoyproxy/ratelimit's format, one domain each: YAML text, or an object (written as JSON, which is YAML). */
  limits: string | object | (string | object)[];
  /** The Redis to count in. Default: a shared store of its own, closed with the service. */
  store?: SharedStore;
  /** The service's clock always reads these unix seconds, so no window rolls over during a test. Default: the real clock. */
  frozenTime?: number;
  /** As envoyproxy/ratelimit's EXPIRATION_JITTER_MAX_SECONDS (its default is 300). Default 0 here: TTLs are exact. */
  expirationJitterMaxSeconds?: number;
  /** As envoyproxy/ratelimit's CACHE_KEY_PREFIX. Default none. */
  cacheKeyPrefix?: string;
  /** How long the service may take to answer. Default 30 s (importing grpc is slow on a loaded machine). */
  startTimeoutMs?: number;
  /** Names the log file; default "ratelimit-service". */
  name?: string;
}

export interface RatelimitService {
  /** The gRPC port on 127.0.0.1. */
  readonly port: number;
  /** The Redis it counts in. */
  readonly store: SharedStore;
  /** The Redis user it logs in as (INCRBY, EXPIRE and PING only). */
  readonly redisUser: string;
  /** The limits files it loaded, in order. */
  readonly configFiles: string[];
  shouldRateLimit(request: RatelimitRequest, timeoutMs?: number): Promise<RatelimitResponse>;
  /** The integer in a counter key, or null when the key does not exist. */
  counter(key: string): Promise<number | null>;
  /** Creates the service's Redis user again: a restarted Redis starts empty, users made at run time included. */
  grantRedisUser(): Promise<void>;
  /** Why the service is gone, or null while it runs. */
  exit(): string | null;
  /** The service's output so far (one line per descriptor it counted). */
  logs(): string;
  /** Stops the service, and the store when it is the service's own. */
  close(): Promise<void>;
}

/**
 * The Redis key envoyproxy/ratelimit counts a descriptor's window in:
 * `<prefix><domain>_<key>_<value>_..._<window start>`, the window start `now // unit * unit`.
 */
export function ratelimitCacheKey(domain: string, entries: { key: string; value: string }[], unit: RatelimitUnit, now: number, prefix = ""): string {
  const seconds = RATELIMIT_UNIT_SECONDS[unit];
  return `${prefix}${domain}_${entries.map((e) => `${e.key}_${e.value}_`).join("")}${Math.floor(now / seconds) * seconds}`;
}

/** The venv's python from scripts/install-ratelimit.sh, or a MissingToolError. */
export function ratelimitPython(): string {
  const cache = process.env.AI_GATEWAY_CACHE || path.join(homedir(), ".cache", "ai-gateway-wasm");
  const venv = path.join(cache, "ratelimit-venv");
  const python = path.join(venv, "bin", "python");
  if (!existsSync(python)) throw new MissingToolError(`the rate-limit service's venv ${venv} is missing: ${INSTALL_HINT}`);
  const want = createHash("sha256").update(readFileSync(repoPath(`${RATELIMIT_SERVICE_DIR}/requirements.txt`))).digest("hex");
  const stamp = path.join(venv, "requirements.sha256");
  const have = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
  if (have !== want) throw new MissingToolError(`the rate-limit service's venv ${venv} was not installed from the current requirements.txt: ${INSTALL_HINT}`);
  return python;
}

// --- protobuf, the few messages of envoy.service.ratelimit.v3 ----------------------------------

function varint(n: number | bigint): Buffer {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Buffer.from(out);
}

const tag = (field: number, wire: number) => varint((field << 3) | wire);
const bytesField = (field: number, b: Buffer) => Buffer.concat([tag(field, 2), varint(b.length), b]);
const stringField = (field: number, s: string) => bytesField(field, Buffer.from(s, "utf8"));
const varintField = (field: number, n: number) => Buffer.concat([tag(field, 0), varint(n)]);

/** RateLimitRequest{1: domain, 2: descriptors{1: entries{1: key, 2: value}, 3: hits_addend UInt64Value{1}}, 3: hits_addend}. */
export function encodeRatelimitRequest(req: RatelimitRequest): Buffer {
  const parts = [stringField(1, req.domain)];
  for (const d of req.descriptors) {
    const inner = d.entries.map((e) => bytesField(1, Buffer.concat([stringField(1, e.key), stringField(2, e.value)])));
    // A set UInt64Value of 0 is an empty message, still present: that is what "check only" is.
    if (d.hitsAddend !== undefined) inner.push(bytesField(3, d.hitsAddend === 0 ? Buffer.alloc(0) : varintField(1, d.hitsAddend)));
    parts.push(bytesField(2, Buffer.concat(inner)));
  }
  if (req.hitsAddend) parts.push(varintField(3, req.hitsAddend));
  return Buffer.concat(parts);
}

type Field = { field: number; wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let result = 0n;
  for (let shift = 0n; ; shift += 7n) {
    if (at >= buf.length) throw new Error("protobuf: truncated varint");
    const byte = buf[at++];
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, at];
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  for (let at = 0; at < buf.length; ) {
    const [key, next] = readVarint(buf, at);
    at = next;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, n] = readVarint(buf, at);
      out.push({ field, wire, value: v });
      at = n;
    } else if (wire === 2) {
      const [len, n] = readVarint(buf, at);
      out.push({ field, wire, value: buf.subarray(n, n + Number(len)) });
      at = n + Number(len);
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      out.push({ field, wire, value: buf.subarray(at, at + size) });
      at += size;
    } else {
      throw new Error(`protobuf: wire type ${wire} not expected`);
    }
  }
  return out;
}

const num = (f: Field | undefined) => (f === undefined ? 0 : Number(f.value as bigint));
const sub = (f: Field | undefined) => (f === undefined ? Buffer.alloc(0) : (f.value as Buffer));

/** RateLimitResponse{1: overall_code, 2: statuses{1: code, 2: current_limit{1: rpu, 2: unit, 3: name}, 3: limit_remaining, 4: duration_until_reset{1: seconds}}}. */
export function decodeRatelimitResponse(buf: Buffer): RatelimitResponse {
  const top = fields(buf);
  const statuses = top
    .filter((f) => f.field === 2)
    .map((f): RatelimitDescriptorStatus => {
      const s = fields(f.value as Buffer);
      const status: RatelimitDescriptorStatus = {
        code: CODE_BY_NUMBER[num(s.find((x) => x.field === 1))] ?? "UNKNOWN",
        limitRemaining: num(s.find((x) => x.field === 3)),
      };
      const limit = s.find((x) => x.field === 2);
      if (limit !== undefined) {
        const l = fields(limit.value as Buffer);
        status.currentLimit = {
          requestsPerUnit: num(l.find((x) => x.field === 1)),
          unit: UNIT_BY_NUMBER[num(l.find((x) => x.field === 2))] ?? "unknown",
          name: sub(l.find((x) => x.field === 3)).toString("utf8"),
        };
      }
      const reset = s.find((x) => x.field === 4);
      if (reset !== undefined) status.durationUntilReset = num(fields(reset.value as Buffer).find((x) => x.field === 1));
      return status;
    });
  return { overallCode: CODE_BY_NUMBER[num(top.find((f) => f.field === 1))] ?? "UNKNOWN", statuses };
}

/** One unary ShouldRateLimit call on its own HTTP/2 connection. */
export function shouldRateLimit(port: number, request: RatelimitRequest, timeoutMs = 5_000): Promise<RatelimitResponse> {
  const message = encodeRatelimitRequest(request);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    let settled = false;
    const finish = (err: Error | null, res?: RatelimitResponse) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(new Error(`ShouldRateLimit on 127.0.0.1:${port}: no answer in ${timeoutMs} ms`)), timeoutMs);
    session.on("error", (err) => finish(err));
    const stream = session.request({
      ":method": "POST",
      ":path": "/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit",
      "content-type": "application/grpc",
      te: "trailers",
    });
    const chunks: Buffer[] = [];
    let status: Record<string, unknown> = {};
    stream.on("response", (headers) => (status = { ...headers }));
    stream.on("trailers", (trailers) => (status = { ...status, ...trailers }));
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("error", (err) => finish(err));
    stream.on("end", () => {
      const code = Number(status["grpc-status"] ?? -1);
      if (code !== 0) {
        finish(new GrpcError(code, decodeURIComponent(String(status["grpc-message"] ?? `HTTP ${String(status[":status"])}`))));
        return;
      }
      const body = Buffer.concat(chunks);
      if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) {
        finish(new Error(`ShouldRateLimit: not one uncompressed gRPC message (${body.length} bytes)`));
        return;
      }
      try {
        finish(null, decodeRatelimitResponse(body.subarray(5)));
      } catch (err) {
        finish(err as Error);
      }
    });
    stream.end(frame);
  });
}

// --- the service process -------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

/** Starts the service; resolves once it has loaded its limits, reached Redis and answered one call. */
export async function startRatelimitService(opts: RatelimitServiceOptions): Promise<RatelimitService> {
  const python = ratelimitPython();
  const name = opts.name ?? "ratelimit-service";
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const ownStore = opts.store === undefined;
  const store = opts.store ?? (await startSharedStore({ name: `${name}-redis` }));
  const dir = await mkdtemp(path.join(tmpdir(), "aigw-ratelimit-"));
  const cleanup = async () => {
    rmSync(dir, { recursive: true, force: true });
    if (ownStore) await store.close();
  };

  const redisUser = `aigw-ratelimit-${randomBytes(4).toString("hex")}`;
  const redisPassword = randomBytes(16).toString("hex");
  // The commands envoyproxy/ratelimit's fixed windows use (GET only with STOP_CACHE_KEY_INCREMENT_WHEN_OVERLIMIT), and PING.
  const grantRedisUser = async () => {
    await store.redis("ACL", "SETUSER", redisUser, "reset", "on", `>${redisPassword}`, "~*", "resetchannels", "-@all", "+incrby", "+expire", "+ping");
  };

  const configs = Array.isArray(opts.limits) ? opts.limits : [opts.limits];
  const configFiles: string[] = [];
  let sink: LogSink | undefined;
  let child: ChildProcess | undefined;
  try {
    await grantRedisUser();
    for (const [i, c] of configs.entries()) {
      const file = path.join(dir, `limits-${i}.yaml`);
      await writeFile(file, typeof c === "string" ? c : JSON.stringify(c, null, 2));
      configFiles.push(file);
    }
    const args = [
      repoPath(`${RATELIMIT_SERVICE_DIR}/server.py`),
      ...configFiles.flatMap((f) => ["--config", f]),
      "--redis", `127.0.0.1:${store.redisPort}`,
      "--port", "0",
      "--expiration-jitter-max-seconds", String(opts.expirationJitterMaxSeconds ?? 0),
      ...(opts.cacheKeyPrefix ? ["--cache-key-prefix", opts.cacheKeyPrefix] : []),
      ...(opts.frozenTime === undefined ? [] : ["--frozen-time", String(opts.frozenTime)]),
    ];
    sink = new LogSink(logPath(name, store.redisPort));
    child = spawn(python, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, REDIS_AUTH: `${redisUser}:${redisPassword}`, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1" },
    });
  } catch (err) {
    sink?.close();
    await cleanup();
    throw err;
  }
  const proc = child;
  const logs = sink;
  liveChildren.add(proc);
  let exitInfo: string | null = null;
  proc.stdout!.on("data", (d) => logs.push(d));
  proc.stderr!.on("data", (d) => logs.push(d));
  proc.once("error", (err) => (exitInfo ??= `could not run ${python}: ${err.message}`));
  const exited = new Promise<void>((resolve) =>
    proc.once("close", (code, signal) => {
      exitInfo ??= `ratelimit-service exited (code ${code}, signal ${signal})`;
      liveChildren.delete(proc);
      resolve();
    }),
  );

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      if (exitInfo === null) {
        proc.kill("SIGTERM");
        const killer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
      }
      logs.close();
      await cleanup();
    })());

  let port = 0;
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /ratelimit-service: listening on 127\.0\.0\.1:(\d+)/.exec(logs.text());
      if (m) {
        port = Number(m[1]);
        break;
      }
      if (exitInfo !== null) {
        await exited;
        throw new Error(exitInfo);
      }
      if (Date.now() > deadline) throw new Error(`not listening after ${timeoutMs} ms`);
      await sleep(25);
    }
    // One real call: a domain no config names is answered OK without touching Redis.
    const ready = await shouldRateLimit(port, { domain: "aigw-harness-ready", descriptors: [{ entries: [{ key: "ready", value: "1" }] }] });
    if (ready.overallCode !== "OK") throw new Error(`readiness call answered ${ready.overallCode}`);
  } catch (err) {
    const text = logs.text();
    await close();
    throw new Error(`rate-limit service did not start: ${(err as Error).message}\n--- ${name} (${logs.path}) ---\n${text}`);
  }

  return {
    port,
    store,
    redisUser,
    configFiles,
    shouldRateLimit: (request, timeout) => shouldRateLimit(port, request, timeout),
    async counter(key: string) {
      const v = await store.redis("GET", key);
      return v === null ? null : Number(String(v));
    },
    grantRedisUser,
    exit: () => exitInfo,
    logs: () => logs.text(),
    close,
  };
}
