// Builds model-router's own test modules: the pure entry (build/pure/model-router.wasm) and the
// health-writer fixture filter (build/fixtures/model-router-health-writer.wasm). Each file is
// compiled into a private temporary folder and renamed into place, so suites running in parallel
// (and the import check, which lists build/**.wasm) never see a half-written module.
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../../scripts/build.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PURE_WASM = path.join(ROOT, "build", "pure", "model-router.wasm");
export const HEALTH_WRITER_WASM = path.join(ROOT, "build", "fixtures", "model-router-health-writer.wasm");

async function build(entry: string, out: string): Promise<string> {
  const dir = path.join(ROOT, "build", `.tmp-model-router-${process.pid}-${Date.now()}`);
  const tmp = path.join(dir, path.basename(out));
  await mkdir(dir, { recursive: true });
  await mkdir(path.dirname(out), { recursive: true });
  const prev = process.cwd();
  process.chdir(ROOT);
  try {
    await compile(path.join(ROOT, entry), tmp, { debug: false });
    await rename(tmp, out);
  } finally {
    process.chdir(prev);
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}

let pure: Promise<string> | null = null;
let writer: Promise<string> | null = null;

export function buildPureModule(): Promise<string> {
  pure ??= build("host-tests/model-router/pure-entry.ts", PURE_WASM);
  return pure;
}

export function buildHealthWriter(): Promise<string> {
  writer ??= build("host-tests/model-router/health-writer/index.ts", HEALTH_WRITER_WASM);
  return writer;
}
