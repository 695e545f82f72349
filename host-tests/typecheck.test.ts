// vitest strips types without checking them, so the TypeScript of the emulator, the harness and
// the tests is checked here (strict, tsconfig.json); AssemblyScript sources are asc's job.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");

describe("TypeScript sources", () => {
  it("type-check without errors", async () => {
    const tsc = path.join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const result = await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.json", "--pretty", "false"], { cwd: ROOT })
      .then(() => "")
      .catch((err: { stdout?: string; message: string }) => err.stdout || err.message);
    expect(result).toBe("");
  }, 180_000);
});
