// Real model servers for the integration tests, on free loopback ports: llama.cpp's llama-server
// (OpenAI API; one model, or router mode over a folder of models) and Seldon MLServer (KServe V2,
// with versions). scripts/install-model-servers.sh builds and installs them in a cache outside
// the repository and writes model-servers.json there; this module reads it. A missing install is
// a MissingToolError that names the install command: the suite fails, it never skips.
// What the servers answer while loading: envoy/model-servers/README.md.
import http from "node:http";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import net from "node:net";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { MissingToolError, repoPath } from "./paths";
import { freePorts } from "./ports";
import { LogSink, logPath, sleep } from "./prepare";

const INSTALL_HINT = "run `bash scripts/install-deps.sh` (or only `bash scripts/install-model-servers.sh`)";
const MODEL_SERVERS_DIR = "envoy/model-servers";

/** The cache scripts/install-model-servers.sh fills: $AI_GATEWAY_CACHE, else ~/.cache/ai-gateway-wasm. */
export function modelServersCache(): string {
  return process.env.AI_GATEWAY_CACHE || path.join(homedir(), ".cache", "ai-gateway-wasm");
}

/** What scripts/install-model-servers.sh installed (its model-servers.json). */
export interface ModelServersInstall {
  /** The node-llama-cpp version whose bundled llama.cpp source was built. */
  nodeLlamaCpp: string;
  llamaServer: string;
  /** tiny-v1.gguf and tiny-v2.gguf: the folder router mode serves. */
  ggufDir: string;
  /** A model big enough that loading it takes seconds with `--load-mode none`. */
  slowGguf: string;
  /** The venv's python: numpy, scikit-learn, MLServer. */
  python: string;
  mlserver: string;
}

/** Reads the cache's model-servers.json and checks that every file in it exists. */
export function modelServersInstall(): ModelServersInstall {
  const manifest = path.join(modelServersCache(), "model-servers.json");
  if (!existsSync(manifest)) throw new MissingToolError(`model servers not installed (no ${manifest}): ${INSTALL_HINT}`);
  const install = JSON.parse(readFileSync(manifest, "utf8")) as ModelServersInstall;
  for (const [key, file] of Object.entries(install)) {
    if (key !== "nodeLlamaCpp" && !existsSync(file)) throw new MissingToolError(`${file} (${key} in ${manifest}) is missing: ${INSTALL_HINT}`);
  }
  return install;
}

/** One answer of a server, or why there was none ("ECONNREFUSED", "timeout"). */
export interface Answer {
  status: number | null;
  body: string;
  error?: string;
}

/** GET `url`; a connection error or timeout is an Answer with `status: null`, not a throw. */
export async function probe(url: string, timeoutMs = 2_000): Promise<Answer> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { status: null, body: "", error: e.cause?.code ?? (e.name === "TimeoutError" ? "timeout" : e.message) };
  }
}

/** A change seen by `watchStatus`: the answer, and when it was first seen (ms after the watch began). */
export interface Observation extends Answer {
  atMs: number;
}

/**
 * Polls `url` until `until(answer)` holds and returns every distinct answer seen on the way
 * (status and body), the last one included. Throws at the deadline, or when `exited()` says the
 * server is gone, with what it saw.
 */
export async function watchStatus(
  url: string,
  opts: { until: (a: Answer) => boolean; timeoutMs?: number; intervalMs?: number; exited?: () => string | null },
): Promise<Observation[]> {
  const start = Date.now();
  const deadline = start + (opts.timeoutMs ?? 60_000);
  const seen: Observation[] = [];
  for (;;) {
    const answer = await probe(url);
    const last = seen.at(-1);
    if (!last || last.status !== answer.status || last.body !== answer.body || last.error !== answer.error) {
      seen.push({ ...answer, atMs: Date.now() - start });
    }
    if (opts.until(answer)) return seen;
    const gone = opts.exited?.() ?? null;
    const summary = () => seen.map((o) => `${o.atMs} ms: ${o.status ?? o.error} ${o.body.slice(0, 120)}`).join("; ");
    if (gone !== null) throw new Error(`${url}: ${gone} (seen: ${summary()})`);
    if (Date.now() > deadline) throw new Error(`${url}: not as wanted in ${opts.timeoutMs ?? 60_000} ms (seen: ${summary()})`);
    await sleep(opts.intervalMs ?? 25);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function portOpen(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/** What both servers' handles have. */
export interface ModelServer {
  /** e.g. "llama-server" or "mlserver"; names the log file. */
  readonly name: string;
  readonly port: number;
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly pid: number;
  /** The command line it runs with. */
  readonly command: string[];
  /** Why it is gone (e.g. "llama-server exited (code null, signal SIGKILL)"), or null while it runs. */
  exitInfo(): string | null;
  /** SIGTERM to its process group, SIGKILL after 5 s; resolves when it is gone. */
  stop(): Promise<void>;
  /** SIGKILL to its process group at once: a crashed server. */
  kill(): Promise<void>;
  /** Its output so far (for `addLogSource`, so that a failing test prints it). */
  logs(): string;
  /** stop(), then removes its temporary folder. */
  close(): Promise<void>;
}

// Process groups and folders that outlive a crashed test process otherwise.
const liveGroups = new Set<number>();
const liveDirs = new Set<string>();
process.once("exit", () => {
  for (const pgid of liveGroups) killGroup(pgid, "SIGKILL");
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

interface Launched {
  child: ChildProcess;
  sink: LogSink;
  exitInfo: () => string | null;
  exited: Promise<void>;
  stop: (signal: NodeJS.Signals) => Promise<void>;
}

/**
 * Spawns `bin` as the leader of a new process group (llama-server's router mode starts one child
 * per model; signals go to the whole group) with its output in a log file.
 */
function launch(name: string, port: number, bin: string, args: string[], cwd?: string): Launched {
  const sink = new LogSink(logPath(name, port));
  const child = spawn(bin, args, { cwd, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const pgid = child.pid;
  if (pgid !== undefined) liveGroups.add(pgid);
  let exitInfo: string | null = null;
  child.stdout!.on("data", (d) => sink.push(d));
  child.stderr!.on("data", (d) => sink.push(d));
  child.once("error", (err) => (exitInfo = `could not run ${bin}: ${err.message}`));
  const exited = new Promise<void>((resolve) => {
    // "close", not "exit": by then its output is in the log.
    child.once("close", (code, signal) => {
      exitInfo ??= `${name} exited (code ${code}, signal ${signal})`;
      resolve();
    });
  });
  const stop = async (signal: NodeJS.Signals) => {
    if (pgid === undefined) return;
    if (exitInfo === null) {
      killGroup(pgid, signal);
      const killer = setTimeout(() => killGroup(pgid, "SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    }
    // Children of the leader (router mode's model processes) go with it.
    killGroup(pgid, "SIGKILL");
    liveGroups.delete(pgid);
  };
  return { child, sink, exitInfo: () => exitInfo, exited, stop };
}

function handle(name: string, port: number, command: string[], l: Launched, dir: string | undefined): ModelServer {
  if (dir !== undefined) liveDirs.add(dir);
  let closed: Promise<void> | undefined;
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    pid: l.child.pid ?? -1,
    command,
    exitInfo: l.exitInfo,
    stop: () => l.stop("SIGTERM"),
    kill: () => l.stop("SIGKILL"),
    logs: () => l.sink.text(),
    close: () =>
      (closed ??= (async () => {
        await l.stop("SIGTERM");
        l.sink.close();
        if (dir !== undefined) {
          rmSync(dir, { recursive: true, force: true });
          liveDirs.delete(dir);
        }
      })()),
  };
}

/** Retries `start` with new ports when a free port was taken between asking the kernel and the bind. */
async function withPortRetry<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt < 3 && /address already in use|couldn't bind|EADDRINUSE/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

/** How long `start*` waits: "ready" (default), "listening" (the port answers), or "none". */
export type StartWait = "ready" | "listening" | "none";

// --- llama-server ---------------------------------------------------------------------------------

export interface LlamaServerOptions {
  /** A GGUF file, or the name of one in the cache ("tiny-v1", "tiny-v2"). Default "tiny-v1", or the slow model with `loadSlowly`. */
  model?: string;
  /** Router mode over this folder (model ids are the file names without ".gguf"); "cache" is the cache's tiny-v1/tiny-v2 folder. */
  modelsDir?: string;
  /** `--alias` (single-model mode): the name /v1/models lists and responses carry. */
  alias?: string;
  /**
   * The slow model (unless `model` is given) with `--load-mode dio` (or `loadMode`): 503 "Loading
   * model" for about 2 to 8 s (README). Direct I/O reads from the disk even when the file is in
   * the page cache, so it is never faster than "none" (which took 0.8 to 1.5 s here).
   */
  loadSlowly?: boolean;
  /** `--load-mode`: "auto" (mmap, the default), "none" (read() into memory), "dio" (direct I/O; buffered where unsupported). */
  loadMode?: "auto" | "none" | "mmap" | "dio";
  /** Router mode: load models when a request names them (default false: `--no-models-autoload`). */
  autoload?: boolean;
  wait?: StartWait;
  /** `-c`, `-np`, `-t`: default 2048, 2, 1 (two compute threads on a busy 2-core machine spin against each other: 10x slower). */
  contextSize?: number;
  parallel?: number;
  threads?: number;
  extraArgs?: string[];
  /** Default 60 s. */
  startTimeoutMs?: number;
  /** Names the log file; default "llama-server". */
  name?: string;
  /** Listen on this loopback port (e.g. one a running Envoy's cluster already names); default a free one. */
  port?: number;
}

export interface LlamaServer extends ModelServer {
  readonly mode: "single" | "router";
  /** The model file (single mode) or folder (router mode). */
  readonly model: string;
  readonly alias: string | undefined;
  /** Resolves when /health answers 200 (router mode: the router is up; models load on their own). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** Router mode: POST /models/load, then waits until GET /models says "loaded". */
  loadModel(id: string, timeoutMs?: number): Promise<void>;
}

/** A GGUF file in the cache by name ("tiny-v1"), or `model` itself when it is a path. */
export function ggufModel(model: string): string {
  if (model.includes("/") || model.endsWith(".gguf")) return repoPath(model);
  return path.join(modelServersInstall().ggufDir, `${model}.gguf`);
}

/** Starts llama-server on a free loopback port; by default resolves once /health answers 200. */
export async function startLlamaServer(opts: LlamaServerOptions = {}): Promise<LlamaServer> {
  const install = modelServersInstall();
  const router = opts.modelsDir !== undefined;
  const model = router
    ? opts.modelsDir === "cache" ? install.ggufDir : repoPath(opts.modelsDir!)
    : opts.model !== undefined ? ggufModel(opts.model) : opts.loadSlowly ? install.slowGguf : ggufModel("tiny-v1");
  if (!existsSync(model)) throw new Error(`startLlamaServer: ${model} does not exist`);
  if (router && opts.alias !== undefined) throw new Error("startLlamaServer: alias is for one model; router mode names models by file");
  return withPortRetry(async () => {
    const port = opts.port ?? (await freePorts(1))[0];
    const name = opts.name ?? "llama-server";
    const args = [
      ...(router ? ["--models-dir", model, ...(opts.autoload ? [] : ["--no-models-autoload"])] : ["-m", model]),
      ...(opts.alias !== undefined ? ["--alias", opts.alias] : []),
      ...(opts.loadMode !== undefined ? ["--load-mode", opts.loadMode] : opts.loadSlowly ? ["--load-mode", "dio"] : []),
      "--host", "127.0.0.1",
      "--port", String(port),
      "-c", String(opts.contextSize ?? 2048),
      "-np", String(opts.parallel ?? 2),
      "-t", String(opts.threads ?? 1),
      ...(opts.extraArgs ?? []),
    ];
    const l = launch(name, port, install.llamaServer, args);
    const base = handle(name, port, [install.llamaServer, ...args], l, undefined);
    const waitReady = async (timeoutMs = opts.startTimeoutMs ?? 60_000) => {
      await watchStatus(`${base.url}/health`, { until: (a) => a.status === 200, timeoutMs, exited: l.exitInfo });
    };
    const server: LlamaServer = {
      ...base,
      mode: router ? "router" : "single",
      model,
      alias: opts.alias,
      waitReady,
      async loadModel(id: string, timeoutMs = 30_000) {
        // A connection of its own: fetch's pooled keep-alive connection may be one llama-server
        // has just closed ("other side closed"), and a load must not be sent twice.
        const res = await postOnce(`${base.url}/models/load`, JSON.stringify({ model: id }));
        if (res.status !== 200) throw new Error(`POST /models/load ${id}: ${res.status} ${res.text}`);
        await watchStatus(`${base.url}/models`, { until: (a) => routerModelStatus(a.body, id) === "loaded", timeoutMs, exited: l.exitInfo });
      },
    };
    try {
      await waitFor(server, opts.wait ?? "ready", opts.startTimeoutMs ?? 60_000, waitReady);
    } catch (err) {
      await server.close();
      throw new Error(`llama-server did not start: ${(err as Error).message}\n--- ${l.sink.path} ---\n${l.sink.tail()}`);
    }
    return server;
  });
}

/** A model's status in router mode's GET /models answer ("unloaded", "loading", "loaded"), or undefined. */
export function routerModelStatus(body: string, id: string): string | undefined {
  try {
    const list = JSON.parse(body) as { data?: { id: string; status?: { value?: string } | string }[] };
    const entry = list.data?.find((m) => m.id === id);
    const status = entry?.status;
    return typeof status === "string" ? status : status?.value;
  } catch {
    return undefined;
  }
}

async function waitFor(server: ModelServer, wait: StartWait, timeoutMs: number, ready: (timeoutMs: number) => Promise<void>): Promise<void> {
  if (wait === "none") return;
  if (wait === "ready") return ready(timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gone = server.exitInfo();
    if (gone !== null) throw new Error(gone);
    if (await portOpen(server.port)) return;
    if (Date.now() > deadline) throw new Error(`127.0.0.1:${server.port} not listening in ${timeoutMs} ms`);
    await sleep(25);
  }
}

// --- MLServer -------------------------------------------------------------------------------------

/** A model in MLServer's repository: the iris classifier (trained at start-up) or the slow-loading one. */
export interface MlServerModel {
  kind: "iris" | "slow";
  /** Default "iris" or "slow". */
  name?: string;
  /** `parameters.version`; iris knows "v1" and "v2" (envoy/model-servers/mlserver/train.py). */
  version?: string;
  /** slow: how long `load()` sleeps (default 8). */
  loadSeconds?: number;
}

export interface MlServerOptions {
  /** Default: iris v1 and iris v2. */
  models?: MlServerModel[];
  wait?: StartWait;
  /** Default 120 s (MLServer itself takes a few seconds to import and start). */
  startTimeoutMs?: number;
  /** Names the log file; default "mlserver". */
  name?: string;
  /** HTTP port on loopback (e.g. one a running Envoy's cluster already names); default a free one. */
  port?: number;
}

export interface MlServer extends ModelServer {
  readonly grpcPort: number;
  readonly metricsPort: number;
  /** The model repository (a temporary folder): settings.json and one folder per model. */
  readonly repository: string;
  readonly models: (MlServerModel & { name: string })[];
  /** /v2/models/{name}[/versions/{version}] */
  modelPath(name: string, version?: string): string;
  /** Resolves when /v2/health/ready answers 200 (every model loaded). */
  waitReady(timeoutMs?: number): Promise<void>;
}

const run = promisify(execFile);

/** Writes the model repository for `models` in `dir` (training the iris versions it needs). */
async function writeRepository(install: ModelServersInstall, dir: string, models: MlServerModel[], ports: { http: number; grpc: number; metrics: number }): Promise<void> {
  const folder = (m: MlServerModel) => (m.version === undefined ? m.name! : `${m.name}-${m.version}`);
  const iris = models.filter((m) => m.kind === "iris");
  if (iris.length > 0) {
    const out = path.join(dir, "trained");
    await run(install.python, [repoPath(`${MODEL_SERVERS_DIR}/mlserver/train.py`), out, ...iris.map((m) => m.version ?? "v1")], { timeout: 120_000 });
    for (const m of iris) {
      await mkdir(path.join(dir, folder(m)), { recursive: true });
      await copyFile(path.join(out, `iris-${m.version ?? "v1"}`, "model.joblib"), path.join(dir, folder(m), "model.joblib"));
    }
    rmSync(out, { recursive: true, force: true });
  }
  for (const m of models) {
    await mkdir(path.join(dir, folder(m)), { recursive: true });
    const parameters: Record<string, unknown> = { ...(m.version === undefined ? {} : { version: m.version }) };
    let implementation = "mlserver_sklearn.SKLearnModel";
    if (m.kind === "iris") parameters.uri = "./model.joblib";
    else {
      // MLServer puts the model's folder on sys.path, so the module is found there.
      implementation = "slow_model.SlowModel";
      parameters.extra = { load_seconds: m.loadSeconds ?? 8 };
      await copyFile(repoPath(`${MODEL_SERVERS_DIR}/mlserver/slow_model.py`), path.join(dir, folder(m), "slow_model.py"));
    }
    await writeFile(path.join(dir, folder(m), "model-settings.json"), JSON.stringify({ name: m.name, implementation, parameters }, null, 2));
  }
  // Every port on loopback; one process (parallel_workers 0), so a kill takes the models with it.
  const settings = { host: "127.0.0.1", http_port: ports.http, grpc_port: ports.grpc, metrics_port: ports.metrics, parallel_workers: 0 };
  await writeFile(path.join(dir, "settings.json"), JSON.stringify(settings, null, 2));
}

/** Starts MLServer on free loopback ports with a fresh model repository; by default resolves once /v2/health/ready answers 200. */
export async function startMlServer(opts: MlServerOptions = {}): Promise<MlServer> {
  const install = modelServersInstall();
  const models = (opts.models ?? [{ kind: "iris", version: "v1" }, { kind: "iris", version: "v2" }]).map((m) => ({ ...m, name: m.name ?? m.kind }));
  return withPortRetry(async () => {
    const [http, grpc, metrics] = opts.port === undefined ? await freePorts(3) : [opts.port, ...(await freePorts(2))];
    const name = opts.name ?? "mlserver";
    const dir = await mkdtemp(path.join(tmpdir(), "aigw-mlserver-"));
    liveDirs.add(dir);
    try {
      await writeRepository(install, dir, models, { http, grpc, metrics });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      throw err;
    }
    const args = ["start", dir];
    const l = launch(name, http, install.mlserver, args, dir);
    const base = handle(name, http, [install.mlserver, ...args], l, dir);
    const timeoutMs = opts.startTimeoutMs ?? 120_000;
    const waitReady = async (ms = timeoutMs) => {
      await watchStatus(`${base.url}/v2/health/ready`, { until: (a) => a.status === 200, timeoutMs: ms, exited: l.exitInfo });
    };
    const server: MlServer = {
      ...base,
      grpcPort: grpc,
      metricsPort: metrics,
      repository: dir,
      models,
      modelPath: (model, version) => `/v2/models/${model}${version === undefined ? "" : `/versions/${version}`}`,
      waitReady,
    };
    try {
      // "listening": /v2/health/live answers 200 (the HTTP server is up; models may still load).
      if (opts.wait === "listening") {
        await watchStatus(`${base.url}/v2/health/live`, { until: (a) => a.status === 200, timeoutMs, exited: l.exitInfo });
      } else await waitFor(server, opts.wait ?? "ready", timeoutMs, waitReady);
    } catch (err) {
      await server.close();
      throw new Error(`mlserver did not start: ${(err as Error).message}\n--- ${l.sink.path} ---\n${l.sink.tail()}`);
    }
    return server;
  });
}

/** POST `body` as JSON on a new connection (no keep-alive pool), for requests that must not be retried. */
function postOnce(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent: false, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer from ${url} in 30 s`)));
    req.on("error", reject);
    req.end(body);
  });
}
