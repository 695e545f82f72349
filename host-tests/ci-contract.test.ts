// What CI proves about a newcomer's machine: .ci/run runs the README's test command and nothing
// of its own, so a green CI means `bash scripts/test-all.sh` installs everything and passes on a
// fresh machine. Also: .ci/run's closing line and exit code, the README's demo command and first
// curl, and that no test can be skipped (a missing tool fails the tests that need it).
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(__dirname, "..");
const run = promisify(execFile);

/** The lines of a shell script that are not comments, trimmed. */
function codeLines(script: string): string[] {
  return script
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

/** The commands of the README's "Set up" section's first sh block, without their comments. */
async function setUpCommands(): Promise<string[]> {
  const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
  const section = /^## Set up\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "");
}

describe("README Set up", () => {
  it("shows the demo command and the test command", async () => {
    expect(await setUpCommands()).toEqual(["bash scripts/demo.sh", "bash scripts/test-all.sh"]);
  });

  it("shows a first curl on the port the demo's Envoy listens on by default", async () => {
    const readme = await readFile(path.join(ROOT, "README.md"), "utf8");
    const section = /^## Set up\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? "";
    const port = /^curl -s localhost:(\d+)\/v1\/models$/m.exec(section)?.[1];
    expect(port).toBe("10000");
    const demo = await readFile(path.join(ROOT, "scripts/demo.sh"), "utf8");
    expect(demo).toContain(`LISTENER="\${DEMO_PORT:-${port}}"`);
    // The demo moves envoy.yaml's own listener; the two agree on the port.
    const example = await readFile(path.join(ROOT, "envoy/envoy.yaml"), "utf8");
    expect(example).toContain(`{address: 0.0.0.0, port_value: ${port}}`);
  });
});

describe(".ci/run", () => {
  it("runs the README's test command as it is written there", async () => {
    const test = (await setUpCommands()).find((c) => c.includes("test-all"));
    expect(test).toBe("bash scripts/test-all.sh");
    const lines = codeLines(await readFile(path.join(ROOT, ".ci/run"), "utf8"));
    // The command starts the line: no variables in front of it that change what it does.
    expect(lines.filter((l) => l === test || l.startsWith(`${test} `))).toHaveLength(1);
    // No other script of ours runs beside it (setup steps belong in test-all.sh).
    expect(lines.filter((l) => /^(bash|sh|source|\.)\s+\S*scripts\//.test(l) && !l.startsWith(`${test} `))).toEqual([]);
  });

  it("installs nothing itself", async () => {
    const script = await readFile(path.join(ROOT, ".ci/run"), "utf8");
    const INSTALLS = [/\bapt(-get)?\b/, /\bdpkg\b/, /\bpip3?\s+install\b/, /\bnpm\s+(ci|install|i)\b/, /\b(yarn|pnpm)\b/, /install-[a-z]+\.sh/, /\bnpx\b/];
    expect(INSTALLS.filter((p) => p.test(script)).map(String)).toEqual([]);
  });

  // .ci/run copied beside a stand-in scripts/test-all.sh that prints what the real one would.
  describe("summary and exit code", () => {
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), "aigw-ci-run-"));
      await mkdir(path.join(dir, ".ci"));
      await mkdir(path.join(dir, "scripts"));
      await writeFile(path.join(dir, ".ci/run"), await readFile(path.join(ROOT, ".ci/run")));
      await chmod(path.join(dir, ".ci/run"), 0o755);
    });

    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const CASES = [
      { name: "all passed", out: ["=== deps", "=== tests", "", "7 passed, 0 failed", " Tests  7 passed (7)"], exit: 0, code: 0, last: "7 passed, 0 failed" },
      { name: "a test failed", out: ["=== deps", "=== tests", "6 passed, 1 failed", " Tests  1 failed | 6 passed (7)"], exit: 1, code: 1, last: "6 passed, 1 failed" },
      { name: "an install failed", out: ["=== deps", "install-deps: error: apt-get install -y docker-compose failed"], exit: 1, code: 1, last: "0 passed, 1 failed" },
      { name: "tests passed but the run failed", out: ["=== tests", "7 passed, 0 failed"], exit: 1, code: 1, last: "7 passed, 1 failed" },
      { name: "a summary but no exit code", out: ["=== tests", "5 passed, 2 failed"], exit: 0, code: 1, last: "5 passed, 2 failed" },
    ];

    it.each(CASES)("$name: exits $code and ends with “$last”", async ({ out, exit, code, last }) => {
      const lines = out.map((l) => `echo '${l}'`).join("\n");
      await writeFile(path.join(dir, "scripts/test-all.sh"), `${lines}\nexit ${exit}\n`);
      const result = await run("bash", [path.join(dir, ".ci/run")], { cwd: dir })
        .then((r) => ({ code: 0, stdout: r.stdout }))
        .catch((e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }));
      expect(result.code, result.stdout).toBe(code);
      const printed = result.stdout.trimEnd().split("\n");
      expect(printed.at(-1)).toBe(last);
      // The script's own output passes through, then the phases' times.
      expect(printed.slice(0, out.length)).toEqual(out);
      const timings = printed.slice(printed.indexOf("=== timings") + 1);
      for (const phase of out.filter((l) => l.startsWith("=== ")).map((l) => l.slice(4))) {
        expect(timings.some((l) => new RegExp(`^${phase} +\\d+s$`).test(l)), `a time for ${phase}`).toBe(true);
      }
      expect(timings.some((l) => /^total +\d+s$/.test(l))).toBe(true);
    });
  });
});

describe("tests never skip", () => {
  async function testFiles(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory()) out.push(...(await testFiles(rel)));
      else if (/\.(test|spec)\.[cm]?[jt]s$/.test(entry.name) || dir.endsWith("harness")) out.push(rel);
    }
    return out;
  }

  it("has no skipped, conditional or todo tests in envoy/ and host-tests/", async () => {
    const SKIPS = [/\b(describe|it|test|suite)\s*\.\s*(skip|skipIf|runIf|todo|only)\b/, /\b(ctx|context|t)\s*\.\s*skip\s*\(/];
    const found: string[] = [];
    for (const file of [...(await testFiles("envoy")), ...(await testFiles("host-tests"))]) {
      const code = await readFile(path.join(ROOT, file), "utf8");
      for (const p of SKIPS) if (p.test(code)) found.push(`${file}: ${p}`);
    }
    expect(found).toEqual([]);
  });

  // vitest marks a suite's tests skipped when its beforeAll throws; the harness's hook does not.
  it("fails each test of a suite whose set-up threw, with the set-up's error", async () => {
    // Inside the repository, so that the suite finds vitest in node_modules.
    await mkdir(path.join(ROOT, ".cache"), { recursive: true });
    const dir = await mkdtemp(path.join(ROOT, ".cache", "ci-contract-"));
    try {
      const hooks = path.join(ROOT, "envoy/harness/hooks.ts");
      await writeFile(
        path.join(dir, "setup.test.ts"),
        `import { describe, it } from "vitest";
import { beforeAllOrFailEach } from ${JSON.stringify(hooks)};
class MissingToolError extends Error { override name = "MissingToolError"; }
describe("a suite", () => {
  beforeAllOrFailEach(() => { throw new MissingToolError("no frobnicator: run \`bash scripts/install-deps.sh\`"); });
  it("one", () => {});
  describe("nested", () => { it("two", () => {}); });
});
`,
      );
      await writeFile(path.join(dir, "vitest.config.mjs"), `export default { test: { include: ["setup.test.ts"] } };\n`);
      const vitest = path.join(ROOT, "node_modules/vitest/vitest.mjs");
      const report = path.join(dir, "report.json");
      await run(process.execPath, [vitest, "run", "--root", dir, "--config", path.join(dir, "vitest.config.mjs"), "--reporter=json", `--outputFile=${report}`], { cwd: dir }).catch(
        () => undefined, // vitest exits 1: its tests failed, as they must
      );
      const json = JSON.parse(await readFile(report, "utf8")) as {
        numPassedTests: number;
        numFailedTests: number;
        numPendingTests: number;
        testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[];
      };
      expect([json.numPassedTests, json.numFailedTests, json.numPendingTests]).toEqual([0, 2, 0]);
      const results = json.testResults.flatMap((r) => r.assertionResults);
      expect(results.map((r) => [r.title, r.status])).toEqual([["one", "failed"], ["two", "failed"]]);
      for (const r of results) expect(r.failureMessages.join("\n")).toContain("no frobnicator: run `bash scripts/install-deps.sh`");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
