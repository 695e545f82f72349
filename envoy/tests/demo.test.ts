// scripts/demo.sh --once, as a newcomer runs it (minus the install and build steps, which the
// global setup did): Envoy as a process with envoy/envoy.yaml in front of the three demo model
// servers on loopback. The demo checks every example's answer itself and exits 0 only when all
// passed; this test also reads what it printed, and proves the checks can fail. Envoy's ports are
// free ones given through DEMO_PORT and DEMO_ADMIN_PORT, so a demo a user left running on the
// default 10000 and 9901 does not collide with the test.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../harness/hooks";
import { ROOT, envoyBinary, freePorts, listenOnLoopback } from "../harness";

interface Run {
  code: number;
  output: string;
}

/** Runs the demo once, Envoy on free ports unless `env` names them. */
async function runDemo(env: Record<string, string> = {}): Promise<Run> {
  const [listener, admin] = await freePorts(2);
  const ports = { DEMO_PORT: String(listener), DEMO_ADMIN_PORT: String(admin) };
  return new Promise((resolve) => {
    execFile(
      "bash",
      [path.join(ROOT, "scripts/demo.sh"), "--once"],
      { cwd: ROOT, env: { ...process.env, SKIP_SETUP: "1", ENVOY_BIN: envoyBinary(), ...ports, ...env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, output: stdout + stderr });
      },
    );
  });
}

/** The demo's output split into its "== title" sections, by title. */
function sections(output: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of output.split(/^== /m).slice(1)) {
    const nl = part.indexOf("\n");
    out.set(part.slice(0, nl), part.slice(nl + 1));
  }
  return out;
}

/** The section whose title contains `title` (exactly one). */
function section(all: Map<string, string>, title: string): string {
  const found = [...all.keys()].filter((t) => t.includes(title));
  expect(found, `sections titled *${title}*`).toHaveLength(1);
  return all.get(found[0])!;
}

describe("scripts/demo.sh --once", () => {
  let run: Run;
  let all: Map<string, string>;
  let listener: number;
  let admin: number;

  beforeAllOrFailEach(async () => {
    [listener, admin] = await freePorts(2);
    run = await runDemo({ DEMO_PORT: String(listener), DEMO_ADMIN_PORT: String(admin) });
    all = sections(run.output);
  });

  it("runs Envoy on the ports DEMO_PORT and DEMO_ADMIN_PORT name", () => {
    expect(run.output).toContain(`Envoy listens on http://127.0.0.1:${listener} (admin http://127.0.0.1:${admin})`);
    expect(section(all, "sticky per API key (sk-alice: v1)")).toContain(`$ curl -s -D - 127.0.0.1:${listener}/v1/chat/completions`);
    expect(section(all, "The router's stats")).toContain(`$ curl -s '127.0.0.1:${admin}/stats?usedonly&filter=model_router'`);
  });

  it("exits 0 after all its checks passed", () => {
    expect(run.code, run.output).toBe(0);
    expect(run.output).not.toContain("[FAIL]");
    expect(run.output).toContain("All examples gave the expected answers.");
    expect(run.output.match(/^ {2}\[ok\] /gm)?.length).toBeGreaterThanOrEqual(25);
  });

  it("shows body routing by the sticky split, with what the router set", () => {
    const alice = section(all, "sticky per API key (sk-alice: v1)");
    expect(alice).toContain("$ curl -s -D - 127.0.0.1:");
    expect(alice).toContain(`-H 'authorization: Bearer sk-alice' -d '{"model":"llama","messages":[{"role":"user","content":"hi"}]}'`);
    expect(alice).toMatch(/^ {2}HTTP 200$/m);
    expect(alice).toMatch(/^ {2}x-demo-version: v1$/m);
    expect(alice).toMatch(/^ {2}x-demo-body-model: llama-v1$/m);
    expect(alice).toContain(`x-demo-seen-ai-headers: {"x-ai-cluster":"llama-v1","x-ai-model":"llama","x-ai-model-version":"v1","x-ai-tenant":"8ceddca8a73b101a"}`);
    const carol = section(all, "(sk-carol)");
    expect(carol).toMatch(/^ {2}x-demo-version: v2$/m);
    const split = section(all, "100 times without an API key");
    const [, v1, v2] = /v1=(\d+) v2=(\d+)/.exec(split) ?? [];
    expect(Number(v1) + Number(v2)).toBe(100);
    expect(Number(v1)).toBeGreaterThan(Number(v2));
  });

  it("shows explicit versions, the KServe path route, the model list and the unknown model", () => {
    expect(section(all, `"model":"llama@v2"`)).toMatch(/^ {2}x-demo-version: v2$/m);
    expect(section(all, "x-model-version header")).toMatch(/^ {2}x-demo-version: v2$/m);
    expect(section(all, "its x-ai-cluster is removed")).toMatch(/^ {2}x-demo-server: llama-v1$/m);
    const kserve = section(all, "KServe V2");
    expect(kserve).toContain("/v2/models/iris/infer");
    expect(kserve).toMatch(/^ {2}x-demo-server: iris-v1$/m);
    const list = section(all, "GET /v1/models");
    expect(list).toContain(`{"object":"list","data":[{"id":"llama","object":"model"`);
    expect(list).not.toContain("x-demo-server:");
    const unknown = section(all, "unknown model");
    expect(unknown).toMatch(/^ {2}HTTP 404$/m);
    expect(unknown).toContain(`{"error":{"message":"The model 'gpt-4o' does not exist","type":"invalid_request_error","param":"model","code":"model_not_found"}}`);
    expect(section(all, "/healthz runs without the router")).toMatch(/^ {2}ok$/m);
  });

  it("prints the router's stats", () => {
    const stats = section(all, "The router's stats");
    expect(stats).toMatch(/^ {2}wasmcustom\.model_router\.requests\.model=iris\.version=v1\.source=path: 1$/m);
    expect(stats).toMatch(/^ {2}wasmcustom\.model_router\.errors\.kind=model_not_found: 1$/m);
    expect(stats).toMatch(/^ {2}wasmcustom\.model_router\.model_lists: 1$/m);
  });
});

describe("scripts/demo.sh --once with a wrong router configuration", () => {
  let dir: string;

  beforeAllOrFailEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "aigw-demo-"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 1 and names the checks that failed", async () => {
    // llama v2's cluster pointed at v1's server: requests for v2 reach a server without it.
    const example = await readFile(path.join(ROOT, "envoy/envoy.yaml"), "utf8");
    const wrong = example.replace(`"v2": {"cluster": "llama-v2"`, `"v2": {"cluster": "llama-v1"`);
    expect(wrong).not.toBe(example);
    const config = path.join(dir, "envoy.yaml");
    await writeFile(config, wrong);
    const run = await runDemo({ ENVOY_CONFIG: config });
    expect(run.code, run.output).toBe(1);
    expect(run.output).toMatch(/^ {2}\[FAIL\] answered by version: expected v2, got nothing$/m);
    expect(run.output).toMatch(/^\d+ check\(s\) FAILED\./m);
    // The access log it prints shows where the requests went.
    expect(run.output).toMatch(/404 - via_upstream cluster=llama-v1 .* model=llama version=v2/);
  });
});

describe("scripts/demo.sh --once when its port is taken", () => {
  const holders: net.Server[] = [];

  afterAll(async () => {
    await Promise.all(holders.map((h) => new Promise((resolve) => h.close(resolve))));
  });

  /** A port something else already listens on. */
  async function takenPort(): Promise<number> {
    const holder = net.createServer();
    holders.push(holder);
    return listenOnLoopback(holder);
  }

  it.each(["DEMO_PORT", "DEMO_ADMIN_PORT"])("exits 1 before starting anything and says how to choose another %s", async (variable) => {
    const port = await takenPort();
    const run = await runDemo({ [variable]: String(port) });
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain(`demo: port ${port} on 127.0.0.1 is taken`);
    expect(run.output).toContain(`${variable}=<port> bash scripts/demo.sh`);
    expect(run.output).not.toContain("Envoy listens on");
  });
});
