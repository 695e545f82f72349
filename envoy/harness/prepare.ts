// What both runners do before Envoy starts: fill in the config template (ports, the modules'
// folder, the test's own values), say which modules go where, and pick the log file. Only where
// things live differs: a temporary folder for the process runner, fixed paths in the container.
import { createWriteStream, mkdirSync, readdirSync, rmSync, statSync, type WriteStream } from "node:fs";
import path from "node:path";
import { renderTemplate, type Vars } from "./config";
import { ROOT, repoPath } from "./paths";

export interface Ports {
  listener: number;
  admin: number;
}

/** Where Envoy finds its config file and its modules (host paths, or paths in the container). */
export interface Layout {
  configPath: string;
  wasmDir: string;
}

export interface ConfigInput {
  /** Envoy YAML, a template: `${ADMIN_PORT}`, `${LISTENER_PORT}` and `${WASM_DIR}` are filled in. */
  config: string;
  vars?: Vars;
  /** Modules made available in `${WASM_DIR}` under their base names, e.g. "build/noop.wasm". */
  wasm?: string[];
}

export interface PreparedConfig extends Layout {
  /** The rendered configuration Envoy runs with. */
  config: string;
  ports: Ports;
  /** Each module: its file here, and the path Envoy reads it from. */
  wasm: { source: string; target: string }[];
  /** Where the log is kept (.cache/envoy-logs/<time>-<name>-<port>.log). */
  logPath: string;
}

/** Renders the template for `layout` and `ports`; `name` names the log file. */
export function prepareConfig(input: ConfigInput, ports: Ports, layout: Layout, name: string): PreparedConfig {
  const config = renderTemplate(input.config, {
    ...input.vars,
    ADMIN_PORT: ports.admin,
    LISTENER_PORT: ports.listener,
    WASM_DIR: layout.wasmDir,
  });
  const wasm = (input.wasm ?? []).map((f) => ({ source: repoPath(f), target: path.posix.join(layout.wasmDir, path.basename(f)) }));
  return { ...layout, config, ports, wasm, logPath: logPath(name, ports.listener) };
}

/** The command line both runners give Envoy. */
export function envoyArgs(
  configPath: string,
  opts: { concurrency?: number; logLevel?: string; componentLogLevel?: string; extraArgs?: string[] },
): string[] {
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

export const LOG_DIR = path.join(ROOT, ".cache", "envoy-logs");

export function logPath(name: string, port: number): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  return path.join(LOG_DIR, `${stamp}-${name}-${port}.log`);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keeps a process's log in memory and in a file. */
export class LogSink {
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
