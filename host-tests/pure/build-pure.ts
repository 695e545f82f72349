// Compiles the pure AssemblyScript test entries (host-tests/pure/<name>-entry.ts) into
// build/pure/<name>.wasm with the project's asconfig (release target, as shipped).
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../../scripts/build.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PURE_DIR = path.join(ROOT, "build", "pure");

export async function buildPure(): Promise<string[]> {
  const src = path.join(ROOT, "host-tests", "pure");
  const out: string[] = [];
  const prev = process.cwd();
  process.chdir(ROOT);
  try {
    for (const file of (await readdir(src)).sort()) {
      if (!file.endsWith("-entry.ts")) continue;
      const name = file.slice(0, -"-entry.ts".length);
      out.push(await compile(path.join(src, file), path.join(PURE_DIR, `${name}.wasm`), { debug: false }));
    }
  } finally {
    process.chdir(prev);
  }
  return out;
}
