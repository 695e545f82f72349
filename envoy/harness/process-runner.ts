// The process runner: the Envoy binary from scripts/install-envoy.sh (or ENVOY_BIN), spawned
// directly, with the prepared config and modules in a temporary folder.
import { spawn, type ChildProcess } from "node:child_process";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Envoy, EnvoyOptions, ValidateOptions, ValidateResult } from "./envoy";
import { makeHandle, waitReady } from "./handle";
import { envoyBinary } from "./paths";
import { LogSink, envoyArgs, prepareConfig, type PreparedConfig, type Ports } from "./prepare";

const liveChildren = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of liveChildren) child.kill("SIGKILL");
});

/** Prepares the config for a fresh temporary folder and writes it and the modules there. */
async function prepareInTempDir(opts: EnvoyOptions | ValidateOptions, ports: Ports, prefix: string, name: string): Promise<{ dir: string; prepared: PreparedConfig }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const prepared = prepareConfig(opts, ports, { configPath: path.join(dir, "envoy.yaml"), wasmDir: path.join(dir, "wasm") }, name);
  await mkdir(prepared.wasmDir);
  for (const { source, target } of prepared.wasm) await copyFile(source, target);
  await writeFile(prepared.configPath, prepared.config);
  return { dir, prepared };
}

export async function startProcess(opts: EnvoyOptions, ports: Ports): Promise<Envoy> {
  const bin = envoyBinary();
  const { dir, prepared } = await prepareInTempDir(opts, ports, "aigw-envoy-", opts.name ?? "process");
  const sink = new LogSink(prepared.logPath);
  const child = spawn(bin, envoyArgs(prepared.configPath, opts), { stdio: ["ignore", "pipe", "pipe"] });
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
  const handle = makeHandle("process", ports, prepared.config, sink, stopImpl);
  try {
    await waitReady(handle.adminUrl, Date.now() + (opts.startTimeoutMs ?? 60_000), () => exitInfo);
  } catch (err) {
    await handle.stop();
    throw new Error(`Envoy (process ${bin}) did not start: ${(err as Error).message}\n--- Envoy log tail (${sink.path}) ---\n${sink.tail()}`);
  }
  return handle;
}

export async function validateProcess(opts: ValidateOptions, ports: Ports): Promise<ValidateResult> {
  const bin = envoyBinary();
  const { dir, prepared } = await prepareInTempDir(opts, ports, "aigw-validate-", "validate");
  try {
    return await new Promise<ValidateResult>((resolve, reject) => {
      const child = spawn(bin, ["--mode", "validate", "-c", prepared.configPath, "--use-dynamic-base-id"], { stdio: ["ignore", "pipe", "pipe"] });
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
