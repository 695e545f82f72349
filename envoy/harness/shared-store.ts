// The inference cache's shared tier for tests: Redis behind Webdis, both on free loopback ports,
// configured from the user examples envoy/shared-store/redis.conf and webdis.json (only ports,
// folders and logs are changed, plus an administration user for the tests' own Redis client).
// Redis can be stopped, restarted on its port, frozen and thawed mid-test. A missing binary is a
// MissingToolError that names the install command: the suite fails, it never skips.
// How the filter talks to Webdis, and what it answers: envoy/shared-store/README.md.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, readFileSync, rmSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { MissingToolError, repoPath } from "./paths";
import { freePorts } from "./ports";
import { LogSink, logPath, sleep } from "./prepare";

/** The user examples the harness runs. */
export const SHARED_STORE_EXAMPLES = {
  redis: "envoy/shared-store/redis.conf",
  webdis: "envoy/shared-store/webdis.json",
} as const;

/** The Redis user the harness's own client logs in as (the example's default user may only GET and SETEX). */
export const HARNESS_REDIS_USER = "aigw-harness";

const INSTALL_HINT = "run `bash scripts/install-deps.sh` (as root: `apt-get install -y redis-server webdis`)";

export interface SharedStoreOptions {
  /** Replaces the example's `maxmemory`, e.g. "8mb". */
  maxmemory?: string;
  /** Replaces the example's `http_max_request_size` (bytes). */
  maxRequestBytes?: number;
  /** How long Redis and Webdis may take to answer. Default 10 s. */
  startTimeoutMs?: number;
  /** Names the log files; default "shared-store". */
  name?: string;
}

/** A RESP reply: status replies as strings, bulk strings as Buffers, nil as null. */
export type RespValue = string | Buffer | number | null | RespValue[];

/** An error reply from Redis (`-ERR ...`). */
export class RedisReplyError extends Error {
  override name = "RedisReplyError";
}

export interface SharedStore {
  readonly redisPort: number;
  readonly webdisPort: number;
  /** http://127.0.0.1:<webdisPort> */
  readonly webdisUrl: string;
  /** The temporary folder with the rendered configs and Webdis's log. */
  readonly dir: string;
  /** The redis.conf Redis runs with: the example, then the harness's overrides. */
  readonly redisConfig: string;
  /** The webdis.json Webdis runs with: the example with the harness's overrides. */
  readonly webdisConfig: Record<string, unknown>;
  /** One command as the harness's administration user, binary-safe; an error reply throws RedisReplyError. */
  redis(...args: (string | number | Uint8Array)[]): Promise<RespValue>;
  /** Stops Redis (default SIGTERM; SIGKILL for a crash); Webdis keeps running. */
  stopRedis(signal?: NodeJS.Signals): Promise<void>;
  /** Starts Redis again on the same port, empty; resolves when it answers PING. Webdis reconnects by itself. */
  startRedis(): Promise<void>;
  /** SIGSTOP: Redis keeps its connections but answers nothing, as a hung server. */
  freezeRedis(): void;
  /** SIGCONT after freezeRedis(). */
  thawRedis(): void;
  /** Why Webdis is gone (e.g. "webdis exited (code null, signal SIGSEGV)"), or null while it runs. */
  webdisExit(): string | null;
  /** Redis's output and Webdis's log so far (for `addLogSource`, so that a failing test prints them). */
  logs(): Promise<string>;
  close(): Promise<void>;
}

// Children and folders that outlive a crashed test process otherwise.
const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

/** The absolute path of an executable on PATH, or a MissingToolError. */
function tool(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "") continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  throw new MissingToolError(`${name} not found on PATH: ${INSTALL_HINT}`);
}

/** The example redis.conf followed by the harness's overrides (a later directive wins in Redis). */
export function renderRedisConfig(example: string, o: { port: number; dir: string; adminPassword: string; maxmemory?: string }): string {
  const overrides = [
    `# --- envoy/harness/shared-store.ts: this run's port and folder, logs on stdout, an admin user ---`,
    `port ${o.port}`,
    `dir ${o.dir}`,
    `logfile ""`,
    `daemonize no`,
    ...(o.maxmemory === undefined ? [] : [`maxmemory ${o.maxmemory}`]),
    `user ${HARNESS_REDIS_USER} on >${o.adminPassword} ~* &* +@all`,
  ];
  return `${example.replace(/\n*$/, "\n")}\n${overrides.join("\n")}\n`;
}

/** The example webdis.json with this run's ports and log file. */
export function renderWebdisConfig(example: string, o: { redisPort: number; webdisPort: number; logfile: string; maxRequestBytes?: number }): Record<string, unknown> {
  const config = JSON.parse(example) as Record<string, unknown>;
  return {
    ...config,
    redis_port: o.redisPort,
    http_port: o.webdisPort,
    logfile: o.logfile,
    daemonize: false,
    ...(o.maxRequestBytes === undefined ? {} : { http_max_request_size: o.maxRequestBytes }),
  };
}

function encodeCommand(args: (string | number | Uint8Array)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === "string" || typeof a === "number" ? Buffer.from(String(a)) : Buffer.from(a);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n"));
  }
  return Buffer.concat(parts);
}

/** Parses one RESP2 reply at `at`; undefined when `buf` does not hold all of it yet. */
function parseReply(buf: Buffer, at: number): { value: RespValue | RedisReplyError; next: number } | undefined {
  const eol = buf.indexOf("\r\n", at);
  if (eol < 0) return undefined;
  const line = buf.toString("latin1", at + 1, eol);
  const next = eol + 2;
  switch (buf[at]) {
    case 0x2b: // +
      return { value: line, next };
    case 0x2d: // -
      return { value: new RedisReplyError(line), next };
    case 0x3a: // :
      return { value: Number(line), next };
    case 0x24: { // $
      const n = Number(line);
      if (n < 0) return { value: null, next };
      if (buf.length < next + n + 2) return undefined;
      return { value: Buffer.from(buf.subarray(next, next + n)), next: next + n + 2 };
    }
    case 0x2a: { // *
      const n = Number(line);
      if (n < 0) return { value: null, next };
      const items: RespValue[] = [];
      let pos = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, pos);
        if (item === undefined) return undefined;
        if (item.value instanceof RedisReplyError) throw item.value;
        items.push(item.value);
        pos = item.next;
      }
      return { value: items, next: pos };
    }
    default:
      throw new Error(`unexpected RESP reply: ${JSON.stringify(buf.toString("latin1", at, Math.min(buf.length, at + 40)))}`);
  }
}

/** Sends AUTH and one command on a new connection; resolves with the command's reply. */
function redisCommand(port: number, password: string, args: (string | number | Uint8Array)[], timeoutMs = 5_000): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let buf = Buffer.alloc(0);
    const replies: (RespValue | RedisReplyError)[] = [];
    const done = (err: Error | null, value?: RespValue) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => done(new Error(`Redis 127.0.0.1:${port}: no reply to ${String(args[0])} in ${timeoutMs} ms`)), timeoutMs);
    socket.on("error", (err) => done(err));
    socket.on("connect", () => socket.write(Buffer.concat([encodeCommand(["AUTH", HARNESS_REDIS_USER, password]), encodeCommand(args)])));
    socket.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        for (;;) {
          const r = parseReply(buf, 0);
          if (r === undefined) break;
          replies.push(r.value);
          buf = buf.subarray(r.next);
        }
      } catch (err) {
        done(err as Error);
        return;
      }
      if (replies.length < 2) return;
      if (replies[0] instanceof RedisReplyError) done(new Error(`AUTH ${HARNESS_REDIS_USER} failed: ${replies[0].message}`));
      else if (replies[1] instanceof RedisReplyError) done(replies[1]);
      else done(null, replies[1]);
    });
  });
}

interface Child {
  process: ChildProcess;
  /** Why it is gone, once it is. */
  exitInfo: () => string | null;
  exited: Promise<void>;
}

function launch(bin: string, args: string[], sink: LogSink): Child {
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);
  let exitInfo: string | null = null;
  child.stdout!.on("data", (d) => sink.push(d));
  child.stderr!.on("data", (d) => sink.push(d));
  child.once("error", (err) => (exitInfo = `could not run ${bin}: ${err.message}`));
  const exited = new Promise<void>((resolve) => {
    child.once("close", (code, signal) => {
      exitInfo ??= `${path.basename(bin)} exited (code ${code}, signal ${signal})`;
      liveChildren.delete(child);
      resolve();
    });
  });
  return { process: child, exitInfo: () => exitInfo, exited };
}

async function terminate(child: Child, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitInfo() !== null) return;
  child.process.kill("SIGCONT"); // a frozen process handles no SIGTERM
  child.process.kill(signal);
  const killer = setTimeout(() => child.process.kill("SIGKILL"), 5_000);
  await child.exited;
  clearTimeout(killer);
}

/** Polls `probe` until it returns true; throws with the last error, or the child's exit, at the deadline. */
async function waitFor(what: string, deadline: number, child: Child, probe: () => Promise<boolean>): Promise<void> {
  let last = "no answer yet";
  for (;;) {
    const gone = child.exitInfo();
    if (gone !== null) throw new Error(`${what}: ${gone}`);
    try {
      if (await probe()) return;
      last = "not ready";
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not ready in time (${last})`);
    await sleep(25);
  }
}

/** Starts Redis and Webdis from the examples; resolves once Webdis answers a GET through Redis. */
export async function startSharedStore(opts: SharedStoreOptions = {}): Promise<SharedStore> {
  const redisBin = tool("redis-server");
  const webdisBin = tool("webdis");
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(redisBin, webdisBin, opts);
    } catch (err) {
      // A free port can be taken between asking the kernel and the bind: try new ones.
      if (attempt < 3 && /Address already in use/.test((err as Error).message)) continue;
      throw err;
    }
  }
}

async function startOnce(redisBin: string, webdisBin: string, opts: SharedStoreOptions): Promise<SharedStore> {
  const [redisPort, webdisPort] = await freePorts(2);
  const name = opts.name ?? "shared-store";
  const timeoutMs = opts.startTimeoutMs ?? 10_000;
  const dir = await mkdtemp(path.join(tmpdir(), "aigw-shared-store-"));
  liveDirs.add(dir);
  const password = randomBytes(16).toString("hex");
  const redisConfig = renderRedisConfig(readFileSync(repoPath(SHARED_STORE_EXAMPLES.redis), "utf8"), {
    port: redisPort,
    dir,
    adminPassword: password,
    maxmemory: opts.maxmemory,
  });
  const webdisLog = path.join(dir, "webdis.log");
  const webdisConfig = renderWebdisConfig(readFileSync(repoPath(SHARED_STORE_EXAMPLES.webdis), "utf8"), {
    redisPort,
    webdisPort,
    logfile: webdisLog,
    maxRequestBytes: opts.maxRequestBytes,
  });
  const redisConfPath = path.join(dir, "redis.conf");
  const webdisConfPath = path.join(dir, "webdis.json");
  await writeFile(redisConfPath, redisConfig, { mode: 0o600 });
  await writeFile(webdisConfPath, JSON.stringify(webdisConfig, null, 2));

  const redisSink = new LogSink(logPath(`${name}-redis`, redisPort));
  const webdisSink = new LogSink(logPath(`${name}-webdis`, webdisPort));
  const redis = (...args: (string | number | Uint8Array)[]) => redisCommand(redisPort, password, args);
  const webdisUrl = `http://127.0.0.1:${webdisPort}`;

  let redisChild: Child | undefined;
  let webdisChild: Child | undefined;
  const readLogs = async () => {
    const webdisFile = await readFile(webdisLog, "utf8").catch(() => "");
    return `--- redis-server 127.0.0.1:${redisPort} (${redisSink.path}) ---\n${redisSink.text()}\n` +
      `--- webdis 127.0.0.1:${webdisPort} (${webdisLog}) ---\n${webdisSink.text()}${webdisFile}`;
  };

  const startRedis = async () => {
    if (redisChild !== undefined && redisChild.exitInfo() === null) throw new Error("startRedis: Redis is running");
    redisChild = launch(redisBin, [redisConfPath], redisSink);
    const child = redisChild;
    await waitFor(`redis-server on 127.0.0.1:${redisPort}`, Date.now() + timeoutMs, child, async () => (await redis("PING")) === "PONG");
  };
  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      if (webdisChild) await terminate(webdisChild);
      if (redisChild) await terminate(redisChild);
      redisSink.close();
      webdisSink.close();
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    })());

  try {
    await startRedis();
    webdisChild = launch(webdisBin, [webdisConfPath], webdisSink);
    // 200 once Webdis listens and has its connections to Redis (503 before).
    await waitFor(`webdis on 127.0.0.1:${webdisPort}`, Date.now() + timeoutMs, webdisChild, async () => {
      const res = await fetch(`${webdisUrl}/GET/aigw-harness:ready.raw`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return res.status === 200;
    });
  } catch (err) {
    const logs = await readLogs();
    await close();
    throw new Error(`shared store did not start: ${(err as Error).message}\n${logs}`);
  }

  return {
    redisPort,
    webdisPort,
    webdisUrl,
    dir,
    redisConfig,
    webdisConfig,
    redis,
    async stopRedis(signal: NodeJS.Signals = "SIGTERM") {
      if (redisChild) await terminate(redisChild, signal);
    },
    startRedis,
    freezeRedis() {
      redisChild?.process.kill("SIGSTOP");
    },
    thawRedis() {
      redisChild?.process.kill("SIGCONT");
    },
    webdisExit: () => webdisChild!.exitInfo(),
    logs: readLogs,
    close,
  };
}
