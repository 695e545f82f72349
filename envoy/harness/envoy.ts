// One API to run a real Envoy for integration tests, with two runners:
//   container: the Envoy image (ENVOY_IMAGE, default the local image scripts/build-envoy-image.sh
//              builds) through testcontainers, host networking, config and modules copied in;
//   process:   the binary from scripts/install-envoy.sh (or ENVOY_BIN) spawned directly.
// Either way Envoy binds 127.0.0.1 on ports asked from the kernel, runs with --concurrency 2 and
// wasm logs at debug, keeps its whole log (in memory and under .cache/envoy-logs/) and fails
// loudly, with its log tail, when it does not come up. A missing binary, Docker engine or image is
// an error that says how to get it: the suite fails, it never skips.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, readdirSync, rmSync, statSync, type WriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { renderTemplate, type Vars } from "./config";
import { MissingToolError, ROOT, envoyBinary, envoyImage, repoPath } from "./paths";
import { freePorts } from "./ports";

export type Runner = "container" | "process";

export interface EnvoyOptions {
  /** Default: $ENVOY_RUNNER, else "container". */
  runner?: Runner;
  /** Envoy YAML, a template: `${ADMIN_PORT}`, `${LISTENER_PORT}` and `${WASM_DIR}` are filled in. */
  config: string;
  /** Values for the template's other placeholders. */
  vars?: Vars;
  /** Modules made available in `${WASM_DIR}` under their base names, e.g. "build/noop.wasm". */
  wasm?: string[];
  /** Worker threads. Default 2. */
  concurrency?: number;
  /** Default "info". */
  logLevel?: string;
  /** Default "wasm:debug". */
  componentLogLevel?: string;
  /** How long Envoy may take to answer /ready. Default 60 s. */
  startTimeoutMs?: number;
  /** Container runner only; default ENVOY_IMAGE or the local image. */
  image?: string;
  /** More Envoy command-line arguments. */
  extraArgs?: string[];
  /** Names the log file; default the runner. */
  name?: string;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

export interface Envoy {
  readonly runner: Runner;
  readonly listenerUrl: string;
  readonly adminUrl: string;
  readonly listenerPort: number;
  readonly adminPort: number;
  /** The rendered configuration Envoy runs with. */
  readonly config: string;
  /** Numeric stats whose names match the regex `filter` (Envoy's /stats?filter=). */
  stats(filter?: string): Promise<Map<string, number>>;
  /** One stat by exact name; undefined when Envoy has no such stat. */
  stat(name: string): Promise<number | undefined>;
  /** Polls a stat until it satisfies `want` (a number means "at least"); returns its value. */
  waitForStat(name: string, want: number | ((value: number) => boolean), opts?: WaitOptions): Promise<number>;
  /** Everything Envoy has logged so far. */
  logs(): string;
  /** Path of the full log on disk. */
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface ValidateOptions {
  runner?: Runner;
  config: string;
  vars?: Vars;
  wasm?: string[];
  image?: string;
}

export interface ValidateResult {
  ok: boolean;
  exitCode: number | null;
  output: string;
}

const CONTAINER_CONFIG = "/etc/envoy/envoy.yaml";
const CONTAINER_WASM_DIR = "/etc/envoy/wasm";
const LABEL_HARNESS = "ai-gateway-wasm.harness";
const LABEL_PID = "ai-gateway-wasm.pid";
const LABEL_INSTANCE = "ai-gateway-wasm.instance";
const LOG_DIR = path.join(ROOT, ".cache", "envoy-logs");
const READY_LINE = "starting main dispatch loop";

function defaultRunner(): Runner {
  const r = process.env.ENVOY_RUNNER;
  if (r === undefined || r === "") return "container";
  if (r !== "container" && r !== "process") throw new Error(`ENVOY_RUNNER=${r}: expected "container" or "process"`);
  return r;
}

function envoyArgs(configPath: string, opts: EnvoyOptions): string[] {
  return [
    "-c", configPath,
    "--concurrency", String(opts.concurrency ?? 2),
    "--log-level", opts.logLevel ?? "info",
    "--component-log-level", opts.componentLogLevel ?? "wasm:debug",
    // Several Envoys on one host (and, with host networking, in containers) must not share the
    // hot-restart shared memory and sockets.
    "--use-dynamic-base-id",
    ...(opts.extraArgs ?? []),
  ];
}

/** Keeps a process's log in memory and in a file. */
class LogSink {
  private chunks: string[] = [];
  private file: WriteStream;
  private endStream!: () => void;
  /** Resolves when the log stream of a container ended (the container exited). */
  readonly ended = new Promise<void>((resolve) => (this.endStream = resolve));
  constructor(readonly path: string) {
    mkdirSync(LOG_DIR, { recursive: true });
    pruneOldLogs();
    this.file = createWriteStream(path);
  }
  push(chunk: string | Buffer): void {
    const s = chunk.toString();
    this.chunks.push(s);
    this.file.write(s);
  }
  text(): string {
    return this.chunks.join("");
  }
  tail(lines = 60): string {
    return this.text().split("\n").slice(-lines).join("\n");
  }
  streamEnded(): void {
    this.endStream();
  }
  /** Waits for the stream's end, at most `ms`. */
  async drain(ms = 2_000): Promise<void> {
    await Promise.race([this.ended, sleep(ms)]);
  }
  close(): void {
    this.file.end();
  }
}

let pruned = false;
/** Logs of earlier runs older than a day go; scripts/test-all.sh clears them all. */
function pruneOldLogs(): void {
  if (pruned) return;
  pruned = true;
  const cutoff = Date.now() - 24 * 3600 * 1000;
  for (const f of readdirSync(LOG_DIR)) {
    const p = path.join(LOG_DIR, f);
    try {
      if (statSync(p).mtimeMs < cutoff) rmSync(p, { force: true });
    } catch {
      // removed by another test process
    }
  }
}

function logPath(name: string, port: number): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  return path.join(LOG_DIR, `${stamp}-${name}-${port}.log`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Envoys started by this test process, for the logs-on-failure hook and for exit clean-up.
const started = new Set<Envoy>();
const stoppedSet = new WeakSet<Envoy>();
const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

/** Every Envoy this test process started (stopped ones included), newest last. */
export function startedEnvoys(): Envoy[] {
  return [...started];
}

/** Whether `stop()` was called on this Envoy. */
export function isStopped(envoy: Envoy): boolean {
  return stoppedSet.has(envoy);
}

/** Builds the handle both runners return. */
function makeHandle(
  runner: Runner,
  ports: { listener: number; admin: number },
  config: string,
  sink: LogSink,
  stopImpl: () => Promise<void>,
): Envoy {
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

async function waitReady(adminUrl: string, deadline: number, exited: () => string | null): Promise<void> {
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

/** Starts Envoy and resolves once its admin /ready answers LIVE. */
export async function startEnvoy(opts: EnvoyOptions): Promise<Envoy> {
  const runner = opts.runner ?? defaultRunner();
  for (let attempt = 1; ; attempt++) {
    const [listener, admin] = await freePorts(2);
    try {
      return runner === "process"
        ? await startProcess(opts, { listener, admin })
        : await startContainer(opts, { listener, admin });
    } catch (err) {
      // A free port can be taken between asking the kernel and Envoy's bind: try new ones.
      if (attempt < 3 && /Address already in use|cannot bind/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

async function startProcess(opts: EnvoyOptions, ports: { listener: number; admin: number }): Promise<Envoy> {
  const bin = envoyBinary();
  const dir = await mkdtemp(path.join(tmpdir(), "aigw-envoy-"));
  const wasmDir = path.join(dir, "wasm");
  await mkdir(wasmDir);
  for (const f of opts.wasm ?? []) await copyFile(repoPath(f), path.join(wasmDir, path.basename(f)));
  const config = renderTemplate(opts.config, {
    ...opts.vars,
    ADMIN_PORT: ports.admin,
    LISTENER_PORT: ports.listener,
    WASM_DIR: wasmDir,
  });
  const configPath = path.join(dir, "envoy.yaml");
  await writeFile(configPath, config);

  const sink = new LogSink(logPath(opts.name ?? "process", ports.listener));
  const child = spawn(bin, envoyArgs(configPath, opts), { stdio: ["ignore", "pipe", "pipe"] });
  liveChildren.add(child);
  let exitInfo: string | null = null;
  const exited = new Promise<void>((resolve) => {
    // "close", not "exit": by then stdout and stderr are drained into the log.
    child.once("close", (code, signal) => {
      exitInfo = `Envoy exited (code ${code}, signal ${signal})`;
      liveChildren.delete(child);
      resolve();
    });
  });
  child.stdout!.on("data", (d) => sink.push(d));
  child.stderr!.on("data", (d) => sink.push(d));
  child.once("error", (err) => {
    exitInfo = `could not run ${bin}: ${err.message}`;
  });

  const stopImpl = async () => {
    if (exitInfo === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const handle = makeHandle("process", ports, config, sink, stopImpl);
  try {
    await waitReady(handle.adminUrl, Date.now() + (opts.startTimeoutMs ?? 60_000), () => exitInfo);
  } catch (err) {
    await handle.stop();
    throw new Error(`Envoy (process ${bin}) did not start: ${(err as Error).message}\n--- Envoy log tail (${sink.path}) ---\n${sink.tail()}`);
  }
  return handle;
}

type Testcontainers = typeof import("testcontainers");
let tcPromise: Promise<{ tc: Testcontainers; client: Awaited<ReturnType<Testcontainers["getContainerRuntimeClient"]>> }> | null = null;

/** testcontainers with Ryuk off (its image cannot be pulled here), and a Docker engine that answers. */
function docker() {
  tcPromise ??= (async () => {
    process.env.TESTCONTAINERS_RYUK_DISABLED ??= "true";
    // Containers use host networking, so they are on this host's loopback. Without the override,
    // testcontainers running inside a container (/.dockerenv) looks for the `bridge` network's
    // gateway, which a dockerd started with --bridge=none does not have.
    process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "127.0.0.1";
    const tc = await import("testcontainers");
    let client;
    try {
      client = await tc.getContainerRuntimeClient();
    } catch (err) {
      throw new MissingToolError(
        `no Docker engine answers (${(err as Error).message}): run \`bash scripts/start-docker.sh\` as root, ` +
          "or use the process runner (ENVOY_RUNNER=process)",
      );
    }
    await removeOrphans(client);
    return { tc, client };
  })();
  tcPromise.catch(() => {
    tcPromise = null;
  });
  return tcPromise;
}

/** Without Ryuk nothing reaps containers of a test process that died: remove those here. */
async function removeOrphans(client: Awaited<ReturnType<Testcontainers["getContainerRuntimeClient"]>>): Promise<void> {
  for (const info of await client.container.list()) {
    const labels = info.Labels ?? {};
    if (labels[LABEL_HARNESS] === undefined) continue;
    const pid = Number(labels[LABEL_PID]);
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (!alive) await client.container.getById(info.Id).remove({ force: true }).catch(() => undefined);
  }
}

async function requireImage(image: string, explicit: boolean): Promise<void> {
  const { tc, client } = await docker();
  if (await client.image.exists(tc.ImageName.fromString(image))) return;
  // A local tag cannot be pulled from anywhere; a named upstream image may be, where a registry is reachable.
  if (!explicit) {
    throw new MissingToolError(`Docker image ${image} is missing: run \`bash scripts/build-envoy-image.sh\` (or set ENVOY_IMAGE)`);
  }
}

async function removeByInstance(instance: string): Promise<{ exitCode: number | null }> {
  const { client } = await docker();
  const container = await client.container.fetchByLabel(LABEL_INSTANCE, instance, { status: ["created", "running", "exited", "dead", "paused", "restarting"] });
  if (!container) return { exitCode: null };
  const info = await client.container.inspect(container).catch(() => null);
  await container.remove({ force: true }).catch(() => undefined);
  return { exitCode: info?.State?.ExitCode ?? null };
}

function containerBase(tc: Testcontainers, image: string, config: string, wasm: string[], instance: string, sink: LogSink) {
  return new tc.GenericContainer(image)
    .withNetworkMode("host")
    .withEntrypoint(["/usr/local/bin/envoy"])
    .withCopyContentToContainer([{ content: config, target: CONTAINER_CONFIG }])
    .withCopyFilesToContainer(wasm.map((f) => ({ source: repoPath(f), target: `${CONTAINER_WASM_DIR}/${path.basename(f)}`, mode: 0o644 })))
    .withLabels({ [LABEL_HARNESS]: "envoy", [LABEL_PID]: String(process.pid), [LABEL_INSTANCE]: instance })
    .withLogConsumer((stream) => {
      stream.on("data", (d: string | Buffer) => sink.push(d));
      stream.on("end", () => sink.streamEnded());
    });
}

async function startContainer(opts: EnvoyOptions, ports: { listener: number; admin: number }): Promise<Envoy> {
  const image = opts.image ?? envoyImage();
  await requireImage(image, opts.image !== undefined || !!process.env.ENVOY_IMAGE);
  const { tc } = await docker();
  const config = renderTemplate(opts.config, {
    ...opts.vars,
    ADMIN_PORT: ports.admin,
    LISTENER_PORT: ports.listener,
    WASM_DIR: CONTAINER_WASM_DIR,
  });
  const sink = new LogSink(logPath(opts.name ?? "container", ports.listener));
  const instance = randomUUID();
  const timeout = opts.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeout;
  let container: Awaited<ReturnType<ReturnType<typeof containerBase>["start"]>> | null = null;
  try {
    container = await containerBase(tc, image, config, opts.wasm ?? [], instance, sink)
      .withCommand(envoyArgs(CONTAINER_CONFIG, opts))
      .withWaitStrategy(tc.Wait.forLogMessage(READY_LINE))
      .withStartupTimeout(timeout)
      .start();
  } catch (err) {
    await sink.drain(); // Envoy's last lines, e.g. the reason it failed
    await removeByInstance(instance).catch(() => undefined);
    sink.close();
    throw new Error(`Envoy (container ${image}) did not start: ${(err as Error).message}\n--- Envoy log tail (${sink.path}) ---\n${sink.tail()}`);
  }
  const running = container;
  const stopImpl = async () => {
    await running.stop({ timeout: 5_000, remove: true }).catch(() => removeByInstance(instance));
  };
  const handle = makeHandle("container", ports, config, sink, stopImpl);
  try {
    await waitReady(handle.adminUrl, deadline, () => null);
  } catch (err) {
    await handle.stop();
    throw new Error(`Envoy (container ${image}) did not become ready: ${(err as Error).message}\n--- Envoy log tail (${sink.path}) ---\n${sink.tail()}`);
  }
  return handle;
}

/**
 * A testcontainers wait strategy for a one-shot command: waits until the container exits and
 * keeps its exit code. Unlike Wait.forOneShotStartup() it does not treat a non-zero exit as a
 * start failure (which removes the container before its exit code can be read).
 */
class ExitWait {
  exitCode: number | null = null;
  constructor(private timeoutMs: number) {}
  async waitUntilReady(container: { inspect(): Promise<{ State: { Running: boolean; ExitCode: number } }> }): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const { State } = await container.inspect();
      if (!State.Running) {
        this.exitCode = State.ExitCode;
        return;
      }
      if (Date.now() > deadline) throw new Error(`container still running after ${this.timeoutMs} ms`);
      await sleep(50);
    }
  }
  withStartupTimeout(ms: number): this {
    this.timeoutMs = ms;
    return this;
  }
  isStartupTimeoutSet(): boolean {
    return true;
  }
  getStartupTimeout(): number {
    return this.timeoutMs;
  }
}

/** Runs `envoy --mode validate` on a config (template placeholders filled, modules provided). */
export async function validateConfig(opts: ValidateOptions): Promise<ValidateResult> {
  const runner = opts.runner ?? defaultRunner();
  const wasm = opts.wasm ?? [];
  // Validation binds nothing, but the template still needs its ports.
  const [listener, admin] = await freePorts(2);
  const vars: Vars = { ADMIN_PORT: admin, LISTENER_PORT: listener, ...opts.vars };
  if (runner === "process") {
    const bin = envoyBinary();
    const dir = await mkdtemp(path.join(tmpdir(), "aigw-validate-"));
    try {
      const wasmDir = path.join(dir, "wasm");
      await mkdir(wasmDir);
      for (const f of wasm) await copyFile(repoPath(f), path.join(wasmDir, path.basename(f)));
      const configPath = path.join(dir, "envoy.yaml");
      await writeFile(configPath, renderTemplate(opts.config, { ...vars, WASM_DIR: wasmDir }));
      return await new Promise<ValidateResult>((resolve, reject) => {
        const child = spawn(bin, ["--mode", "validate", "-c", configPath, "--use-dynamic-base-id"], { stdio: ["ignore", "pipe", "pipe"] });
        let output = "";
        child.stdout.on("data", (d) => (output += d));
        child.stderr.on("data", (d) => (output += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        child.once("error", reject);
        child.once("close", (code) => {
          clearTimeout(timer);
          resolve({ ok: code === 0, exitCode: code, output });
        });
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const image = opts.image ?? envoyImage();
  await requireImage(image, opts.image !== undefined || !!process.env.ENVOY_IMAGE);
  const { tc } = await docker();
  const config = renderTemplate(opts.config, { ...vars, WASM_DIR: CONTAINER_WASM_DIR });
  const sink = new LogSink(logPath("validate", 0));
  const instance = randomUUID();
  const exit = new ExitWait(60_000);
  let container;
  try {
    container = await containerBase(tc, image, config, wasm, instance, sink)
      .withCommand(["--mode", "validate", "-c", CONTAINER_CONFIG])
      .withWaitStrategy(exit)
      .start();
  } finally {
    await sink.drain(); // the last lines, e.g. the reason it failed
    sink.close();
    if (container) await container.stop({ timeout: 0, remove: true }).catch(() => undefined);
    await removeByInstance(instance).catch(() => undefined);
  }
  const exitCode = exit.exitCode;
  return { ok: exitCode === 0, exitCode, output: sink.text() };
}
