// One API to run a real Envoy for integration tests, with two runners over one config-preparing
// step (./prepare.ts: template, ports, modules' folder, log path):
//   container (./container-runner.ts): the Envoy image (ENVOY_IMAGE, default the local image
//              scripts/build-envoy-image.sh builds) through testcontainers, host networking;
//   process   (./process-runner.ts): the binary from scripts/install-envoy.sh (or ENVOY_BIN).
// Either way Envoy binds 127.0.0.1 on ports asked from the kernel, runs with --concurrency 2 and
// wasm logs at debug, keeps its whole log (in memory and under .cache/envoy-logs/) and fails
// loudly, with its log tail, when it does not come up. A missing binary, Docker engine or image is
// an error that says how to get it: the suite fails, it never skips.
import type { Vars } from "./config";
import { startContainer, validateContainer } from "./container-runner";
import { freePorts } from "./ports";
import { startProcess, validateProcess } from "./process-runner";

export { parseStats, sumStats, startedEnvoys, isStopped } from "./handle";

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

function defaultRunner(): Runner {
  const r = process.env.ENVOY_RUNNER;
  if (r === undefined || r === "") return "container";
  if (r !== "container" && r !== "process") throw new Error(`ENVOY_RUNNER=${r}: expected "container" or "process"`);
  return r;
}

/** Starts Envoy and resolves once its admin /ready answers LIVE. */
export async function startEnvoy(opts: EnvoyOptions): Promise<Envoy> {
  const runner = opts.runner ?? defaultRunner();
  for (let attempt = 1; ; attempt++) {
    const [listener, admin] = await freePorts(2);
    try {
      return runner === "process" ? await startProcess(opts, { listener, admin }) : await startContainer(opts, { listener, admin });
    } catch (err) {
      // A free port can be taken between asking the kernel and Envoy's bind: try new ones.
      if (attempt < 3 && /Address already in use|cannot bind/i.test((err as Error).message)) continue;
      throw err;
    }
  }
}

/** Runs `envoy --mode validate` on a config (template placeholders filled, modules provided). */
export async function validateConfig(opts: ValidateOptions): Promise<ValidateResult> {
  const runner = opts.runner ?? defaultRunner();
  // Validation binds nothing, but the template still needs its ports.
  const [listener, admin] = await freePorts(2);
  return runner === "process" ? validateProcess(opts, { listener, admin }) : validateContainer(opts, { listener, admin });
}
