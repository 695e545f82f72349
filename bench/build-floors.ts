// Builds the bench's floor modules (bench/floors/*.ts, AssemblyScript) into build/bench/*.wasm
// with asc and bench/floors/asconfig.json (`--runtime stub`, no abort import), and checks what
// they import and export: a floor that imported something Envoy lacks would not load, and one
// that missed an entry point of our ABI layer would measure less than the layer's surface.
// scripts/build.mjs builds the product; the floors belong to the bench, so the bench builds them.
import asc from "assemblyscript/asc";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { BUILD_DIR, ROOT } from "../envoy/harness/paths";

export const FLOOR_DIR = path.join(BUILD_DIR, "bench");
const SOURCE_DIR = path.join(ROOT, "bench", "floors");
const ASCONFIG = path.join(SOURCE_DIR, "asconfig.json");
/** What the floors import: the callbacks every floor leaves idle, the body floor's steps, and the SHA-256 compression the calls floor hashes with. */
const SHARED_SOURCES = [path.join(SOURCE_DIR, "idle-callbacks.ts"), path.join(SOURCE_DIR, "body-routing.ts"), path.join(ROOT, "assembly", "crypto", "sha256-compress.ts")];

/** The floors, and the host functions each may import (Envoy's proxy-wasm 0.2.1, module `env`). */
export const FLOORS: Record<string, { imports: string[] }> = {
  minimal: { imports: [] },
  "body-floor": { imports: ["env.proxy_get_buffer_bytes", "env.proxy_replace_header_map_value"] },
  // The body floor's two, and one function per op of its script; proxy_log for a script error only.
  "calls-floor": {
    imports: [
      "env.proxy_get_buffer_bytes", "env.proxy_replace_header_map_value", "env.proxy_log",
      "env.proxy_get_header_map_pairs", "env.proxy_get_header_map_value", "env.proxy_add_header_map_value",
      "env.proxy_get_current_time_nanoseconds", "env.proxy_get_shared_data", "env.proxy_set_shared_data",
      "env.proxy_set_property", "env.proxy_define_metric", "env.proxy_increment_metric",
    ],
  },
};

/** Exports every floor needs: the ones assembly/abi/exports.ts exports, read from its source. */
function layerExports(): string[] {
  const src = readFileSync(path.join(ROOT, "assembly", "abi", "exports.ts"), "utf8");
  const names = [...src.matchAll(/^export function (\w+)\s*\(/gm)].map((m) => m[1]);
  // asc adds these two to every module; Envoy calls _initialize before anything else.
  return [...names, "memory", "_initialize"];
}

function newer(out: string, inputs: string[]): boolean {
  if (!existsSync(out)) return false;
  const t = statSync(out).mtimeMs;
  return inputs.every((f) => statSync(f).mtimeMs <= t);
}

/** Builds each floor when its source or the asconfig is newer than the module; returns their paths (relative to the repo). */
export async function buildFloors(names: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const required = layerExports();
  for (const name of names) {
    if (!(name in FLOORS)) throw new Error(`no floor module named ${name}`);
    const src = path.join(SOURCE_DIR, `${name}.ts`);
    const wasm = path.join(FLOOR_DIR, `${name}.wasm`);
    if (!newer(wasm, [src, ...SHARED_SOURCES, ASCONFIG])) {
      let stderr = "";
      const { error } = await asc.main(
        [path.relative(ROOT, src), "--baseDir", ROOT, "--config", path.relative(ROOT, ASCONFIG), "--outFile", path.relative(ROOT, wasm)],
        { stdout: { write: () => true }, stderr: { write: (s: string | Uint8Array) => ((stderr += String(s)), true) } },
      );
      if (error) throw new Error(`asc failed for ${path.relative(ROOT, src)}:\n${stderr}`);
    }
    const mod = new WebAssembly.Module(readFileSync(wasm));
    const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}`);
    const extra = imports.filter((i) => !FLOORS[name].imports.includes(i));
    if (extra.length > 0) throw new Error(`${path.relative(ROOT, wasm)} imports ${extra.join(", ")}; a floor may import only ${FLOORS[name].imports.join(", ") || "nothing"}`);
    // The list says what the floor calls, so it must not name a function the floor has stopped calling.
    const unused = FLOORS[name].imports.filter((i) => !imports.includes(i));
    if (unused.length > 0) throw new Error(`${path.relative(ROOT, wasm)} does not import ${unused.join(", ")}, which FLOORS in bench/build-floors.ts lists for it`);
    const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
    const missing = required.filter((e) => !exports.has(e));
    if (missing.length > 0) throw new Error(`${path.relative(ROOT, wasm)} does not export ${missing.join(", ")} (assembly/abi/exports.ts does)`);
    out[name] = path.relative(ROOT, wasm);
  }
  return out;
}
