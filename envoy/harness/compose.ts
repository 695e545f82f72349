// Runs envoy/docker-compose.yml the way CI does: the same file, with only the images (local ones),
// the network mode (host, via docker-compose.host.yml) and where things listen (127.0.0.1, free
// ports) changed. The Envoy config is envoy/envoy.yaml with its socket addresses rewritten.
import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MissingToolError, ROOT, envoyImage, nodeImage } from "./paths";
import { freePorts } from "./ports";

export const COMPOSE_DIR = path.join(ROOT, "envoy");
export const COMPOSE_FILES = ["docker-compose.yml", "docker-compose.host.yml"];

let composeCmd: string[] | null = null;

/** `docker compose` (the v2 plugin) where it exists, else Debian's `docker-compose` (v1). */
export function composeCommand(): string[] {
  if (composeCmd) return composeCmd;
  for (const cmd of [["docker", "compose"], ["docker-compose"]]) {
    try {
      execFileSync(cmd[0], [...cmd.slice(1), "version"], { stdio: "ignore" });
      composeCmd = cmd;
      return cmd;
    } catch {
      // try the next
    }
  }
  throw new MissingToolError(
    "neither `docker compose` nor `docker-compose` runs: run `bash scripts/install-deps.sh` (as root; it runs apt-get install -y docker-compose)",
  );
}

const SOCKET = /\{address: ([A-Za-z0-9.\-]+), port_value: (\d+)\}/g;

/** Every distinct `{address: A, port_value: N}` in a config, as "A:N". */
export function socketAddresses(yaml: string): string[] {
  return [...new Set([...yaml.matchAll(SOCKET)].map((m) => `${m[1]}:${m[2]}`))];
}

/**
 * Rewrites a config's socket addresses for host networking: each "A:N" in `ports` becomes
 * 127.0.0.1 with the given port. A socket address missing from `ports` is an error.
 */
export function hostModeConfig(yaml: string, ports: Record<string, number>): string {
  return yaml.replace(SOCKET, (_all, address: string, port: string) => {
    const key = `${address}:${port}`;
    if (!(key in ports)) throw new Error(`hostModeConfig: no port for socket address ${key}`);
    return `{address: 127.0.0.1, port_value: ${ports[key]}}`;
  });
}

/** The compose variable naming a demo server's port: llama-v1 → LLAMA_V1_PORT. */
export function portVariable(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]/g, "_") + "_PORT";
}

export interface ComposeStack {
  readonly project: string;
  readonly listenerUrl: string;
  readonly adminUrl: string;
  /** Upstream service name → the port it listens on. */
  readonly upstreams: Record<string, number>;
  /** `compose logs` of every service. */
  logs(): Promise<string>;
  /** `compose down`; safe to call twice. */
  down(): Promise<void>;
}

function run(cmd: string[], args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd[0], [...cmd.slice(1), ...args], { cwd: COMPOSE_DIR, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${[...cmd, ...args].join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/**
 * Starts the compose stack on the host network with local images and free loopback ports.
 * Resolves once `up -d` returned; the caller waits for Envoy and the upstreams to be ready.
 */
export async function startComposeStack(): Promise<ComposeStack> {
  const cmd = composeCommand();
  const example = await readFile(path.join(COMPOSE_DIR, "envoy.yaml"), "utf8");
  const compose = await readFile(path.join(COMPOSE_DIR, "docker-compose.yml"), "utf8");
  const sockets = socketAddresses(example);
  const ports = await freePorts(sockets.length);
  const portOf = Object.fromEntries(sockets.map((s, i) => [s, ports[i]]));

  const env: NodeJS.ProcessEnv = { ...process.env, ENVOY_IMAGE: envoyImage(), NODE_IMAGE: nodeImage(), DEMO_HOST: "127.0.0.1" };
  const upstreams: Record<string, number> = {};
  let listener = 0;
  let admin = 0;
  for (const s of sockets) {
    const [address, port] = s.split(":");
    if (address === "0.0.0.0") listener = portOf[s];
    else if (address === "127.0.0.1" && port === "9901") admin = portOf[s];
    else {
      // A demo server: compose must let its port be set, or Envoy would look in the wrong place.
      const variable = portVariable(address);
      if (!compose.includes("${" + variable)) throw new Error(`docker-compose.yml has no \${${variable}} for the upstream ${s} of envoy.yaml`);
      env[variable] = String(portOf[s]);
      upstreams[address] = portOf[s];
    }
  }
  if (!listener || !admin) throw new Error("envoy.yaml: expected a listener on 0.0.0.0 and the admin on 127.0.0.1:9901");

  const dir = await mkdtemp(path.join(tmpdir(), "aigw-compose-"));
  const config = path.join(dir, "envoy.yaml");
  await writeFile(config, hostModeConfig(example, portOf));
  env.ENVOY_CONFIG = config;
  const project = `aigw-test-${process.pid}`;
  const base = ["-p", project, ...COMPOSE_FILES.flatMap((f) => ["-f", f])];

  let downed: Promise<void> | null = null;
  const stack: ComposeStack = {
    project,
    listenerUrl: `http://127.0.0.1:${listener}`,
    adminUrl: `http://127.0.0.1:${admin}`,
    upstreams,
    logs: () => run(cmd, [...base, "logs", "--no-color"], env, 30_000).catch((e: Error) => e.message),
    down() {
      downed ??= run(cmd, [...base, "down", "-v", "--timeout", "3"], env, 60_000)
        .then(() => undefined)
        .finally(() => rm(dir, { recursive: true, force: true }));
      return downed;
    },
  };
  try {
    await run(cmd, [...base, "up", "-d", "--no-build"], env, 120_000);
  } catch (err) {
    const logs = await stack.logs();
    await stack.down().catch(() => undefined);
    throw new Error(`${(err as Error).message}\n--- compose logs ---\n${logs}`);
  }
  return stack;
}
