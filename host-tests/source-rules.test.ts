// Rules on the AssemblyScript sources that no compiler enforces. A trap in Envoy takes the whole
// worker's filter down, so nothing on our side may throw or abort on purpose; and some standard
// library calls import host functions Envoy does not provide.
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");
// The one deliberate trap: the abort handler, reached only by a bug, logs then traps.
const ABORT_HANDLER = path.join("assembly", "runtime", "abort.ts");

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(rel)));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(rel);
  }
  return out;
}

function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}

const RULES: Array<{ name: string; pattern: RegExp }> = [
  { name: "throw", pattern: /\bthrow\b/ },
  { name: "abort(", pattern: /\babort\s*\(/ },
  { name: "unreachable()", pattern: /\bunreachable\s*\(/ },
  { name: "Math.random (imports env.seed)", pattern: /\bMath\.random\b/ },
  { name: "Date.now (imports env.Date.now)", pattern: /\bDate\.now\b/ },
  { name: "trace( (imports env.trace)", pattern: /(^|[^.\w])trace\s*\(/ },
  { name: "console. (needs WASI shims we do not ship)", pattern: /\bconsole\./ },
];

describe("AssemblyScript sources", () => {
  it("never throw, abort or trap on purpose, and use no standard-library call that imports from env", async () => {
    const files = [...(await sources("assembly")), ...(await sources("plugins"))];
    expect(files.length).toBeGreaterThan(5);
    const violations: string[] = [];
    for (const file of files) {
      const code = withoutComments(await readFile(path.join(ROOT, file), "utf8"));
      for (const rule of RULES) {
        if (file === ABORT_HANDLER && rule.name === "unreachable()") continue;
        if (rule.pattern.test(code)) violations.push(`${file}: ${rule.name}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
