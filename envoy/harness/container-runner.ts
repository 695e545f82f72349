// The container runner: the Envoy image (ENVOY_IMAGE, default the local image
// scripts/build-envoy-image.sh builds) through testcontainers, host networking, the prepared
// config and modules copied in at fixed paths.
import { randomUUID } from "node:crypto";
import type { Envoy, EnvoyOptions, ValidateOptions, ValidateResult } from "./envoy";
import { makeHandle, waitReady } from "./handle";
import { MissingToolError, envoyImage } from "./paths";
import { LogSink, envoyArgs, prepareConfig, sleep, type PreparedConfig, type Ports } from "./prepare";

const LAYOUT = { configPath: "/etc/envoy/envoy.yaml", wasmDir: "/etc/envoy/wasm" };
const LABEL_HARNESS = "ai-gateway-wasm.harness";
const LABEL_PID = "ai-gateway-wasm.pid";
const LABEL_INSTANCE = "ai-gateway-wasm.instance";
const READY_LINE = "starting main dispatch loop";

type Testcontainers = typeof import("testcontainers");
type RuntimeClient = Awaited<ReturnType<Testcontainers["getContainerRuntimeClient"]>>;
let tcPromise: Promise<{ tc: Testcontainers; client: RuntimeClient }> | null = null;

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
async function removeOrphans(client: RuntimeClient): Promise<void> {
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

/** The image to run, checked to exist (an explicit one may still be pulled). */
async function imageFor(opts: { image?: string }): Promise<string> {
  const image = opts.image ?? envoyImage();
  await requireImage(image, opts.image !== undefined || !!process.env.ENVOY_IMAGE);
  return image;
}

async function removeByInstance(instance: string): Promise<{ exitCode: number | null }> {
  const { client } = await docker();
  const container = await client.container.fetchByLabel(LABEL_INSTANCE, instance, { status: ["created", "running", "exited", "dead", "paused", "restarting"] });
  if (!container) return { exitCode: null };
  const info = await client.container.inspect(container).catch(() => null);
  await container.remove({ force: true }).catch(() => undefined);
  return { exitCode: info?.State?.ExitCode ?? null };
}

function containerBase(tc: Testcontainers, image: string, prepared: PreparedConfig, instance: string, sink: LogSink) {
  return new tc.GenericContainer(image)
    .withNetworkMode("host")
    .withEntrypoint(["/usr/local/bin/envoy"])
    .withCopyContentToContainer([{ content: prepared.config, target: prepared.configPath }])
    .withCopyFilesToContainer(prepared.wasm.map(({ source, target }) => ({ source, target, mode: 0o644 })))
    .withLabels({ [LABEL_HARNESS]: "envoy", [LABEL_PID]: String(process.pid), [LABEL_INSTANCE]: instance })
    .withLogConsumer((stream) => {
      stream.on("data", (d: string | Buffer) => sink.push(d));
      stream.on("end", () => sink.streamEnded());
    });
}

export async function startContainer(opts: EnvoyOptions, ports: Ports): Promise<Envoy> {
  const image = await imageFor(opts);
  const { tc } = await docker();
  const prepared = prepareConfig(opts, ports, LAYOUT, opts.name ?? "container");
  const sink = new LogSink(prepared.logPath);
  const instance = randomUUID();
  const timeout = opts.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeout;
  let container: Awaited<ReturnType<ReturnType<typeof containerBase>["start"]>> | null = null;
  try {
    container = await containerBase(tc, image, prepared, instance, sink)
      .withCommand(envoyArgs(prepared.configPath, opts))
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
  const handle = makeHandle("container", ports, prepared.config, sink, stopImpl);
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

export async function validateContainer(opts: ValidateOptions, ports: Ports): Promise<ValidateResult> {
  const image = await imageFor(opts);
  const { tc } = await docker();
  const prepared = prepareConfig(opts, ports, LAYOUT, "validate");
  const sink = new LogSink(prepared.logPath);
  const instance = randomUUID();
  const exit = new ExitWait(60_000);
  let container;
  try {
    container = await containerBase(tc, image, prepared, instance, sink)
      .withCommand(["--mode", "validate", "-c", prepared.configPath])
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
