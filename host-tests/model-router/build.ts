// Builds model-router's own test modules: the pure entry (build/pure/model-router.wasm) and the
// health-writer fixture filter (build/fixtures/model-router-health-writer.wasm), release target,
// with the shared test build helper (atomic, once per test process).
import path from "node:path";
import { buildModule, ROOT } from "../fixtures/build-module";

export const PURE_WASM = path.join(ROOT, "build", "pure", "model-router.wasm");
export const HEALTH_WRITER_WASM = path.join(ROOT, "build", "fixtures", "model-router-health-writer.wasm");

export function buildPureModule(): Promise<string> {
  return buildModule("host-tests/model-router/pure-entry.ts", PURE_WASM);
}

export function buildHealthWriter(): Promise<string> {
  return buildModule("host-tests/model-router/health-writer/index.ts", HEALTH_WRITER_WASM);
}
