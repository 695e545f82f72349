// Builds warmup-health's pure test module (build/pure/warmup-health.wasm) from
// host-tests/warmup-health/pure-entry.ts, release target, with the shared test build helper
// (atomic, once per test process).
import path from "node:path";
import { buildModule, ROOT } from "../fixtures/build-module";

export const PURE_WASM = path.join(ROOT, "build", "pure", "warmup-health.wasm");

export function buildPureModule(): Promise<string> {
  return buildModule("host-tests/warmup-health/pure-entry.ts", PURE_WASM);
}
