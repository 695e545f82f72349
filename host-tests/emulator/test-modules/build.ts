// Compiles the emulator's AssemblyScript test modules (test-modules/<name>/index.ts) into
// build/emulator-test-modules/<name>.wasm with the project's own compile(). A module newer than
// its sources and the ABI layer is reused; a fresh build goes to a per-process file that is then
// renamed, so test files running in parallel never read a half-written module.
import { readdir, rename, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
// @ts-ignore: scripts/build.mjs ships no type declarations.
import { compile as compileUntyped } from "../../../scripts/build.mjs";

const compile = compileUntyped as (entry: string, outFile: string, options?: { debug?: boolean }) => Promise<string>;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const OUT = path.join(ROOT, "build", "emulator-test-modules");
const built = new Map<string, Promise<string>>();

/** Path of the built module `name`; compiles it when missing or stale. */
export function testModule(name: string): Promise<string> {
  let pending = built.get(name);
  if (pending === undefined) {
    pending = build(name);
    built.set(name, pending);
  }
  return pending;
}

async function build(name: string): Promise<string> {
  const source = path.join(ROOT, "host-tests", "emulator", "test-modules", name);
  const out = path.join(OUT, `${name}.wasm`);
  const sourceTime = Math.max(await newest(source), await newest(path.join(ROOT, "assembly")));
  const outTime = await stat(out).then((s) => s.mtimeMs, () => 0);
  if (outTime > sourceTime) return out;
  const tmp = path.join(OUT, `${name}.${process.pid}.wasm`);
  await withRootCwd(() => compile(path.join(source, "index.ts"), tmp));
  await rename(tmp, out);
  return out;
}

async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? await newest(full) : (await stat(full)).mtimeMs);
  }
  return latest;
}

async function withRootCwd<T>(run: () => Promise<T>): Promise<T> {
  const previous = process.cwd();
  if (previous === ROOT) return run();
  process.chdir(ROOT);
  try {
    return await run();
  } finally {
    process.chdir(previous);
  }
}
