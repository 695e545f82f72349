// Builds inference-cache's pure test module (build/pure/inference-cache.wasm) from
// host-tests/inference-cache/pure-entry.ts, release target, with the shared test build helper
// (atomic, once per test process).
import path from "node:path";
import { buildModule, ROOT } from "../fixtures/build-module";

export const PURE_WASM = path.join(ROOT, "build", "pure", "inference-cache.wasm");

export function buildPureModule(): Promise<string> {
  return buildModule("host-tests/inference-cache/pure-entry.ts", PURE_WASM);
}
