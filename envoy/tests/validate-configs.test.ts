// Every Envoy YAML in the repository passes `envoy --mode validate`: user examples (envoy/*.yaml,
// modules under /etc/envoy/wasm) with their module paths pointed at build/, and end-to-end
// templates with their placeholders filled (ports from the kernel, defaults otherwise).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../harness/hooks";
import { BUILD_DIR, EXAMPLE_WASM_DIR, ROOT, freePorts, localizeExample, placeholders, validateConfig, type Vars } from "../harness";
import { buildHealthWriter } from "../../host-tests/model-router/build";

/** Repository YAML files (tracked and not deleted, or new and not ignored) that are Envoy bootstrap configs. */
function envoyYamls(): string[] {
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "--", "*.yaml", "*.yml"], { cwd: ROOT, encoding: "utf8" })
    .split("\n")
    .filter((f) => f !== "" && !f.startsWith("node_modules/") && existsSync(path.join(ROOT, f)));
  return [...new Set(files)].filter((f) => /^(static_resources|admin|bootstrap_extensions|node|dynamic_resources):/m.test(readFileSync(path.join(ROOT, f), "utf8"))).sort();
}

/** Every release module the build produced (debug builds left out), and the test fixtures the end-to-end templates load. */
function modules(): string[] {
  const release = readdirSync(BUILD_DIR).filter((f) => f.endsWith(".wasm") && !f.endsWith(".debug.wasm")).map((f) => `build/${f}`);
  const fixtures = readdirSync(path.join(BUILD_DIR, "fixtures")).filter((f) => f.endsWith(".wasm")).map((f) => `build/fixtures/${f}`);
  return [...release, ...fixtures];
}

async function varsFor(template: string): Promise<Vars> {
  const vars: Vars = {};
  const needPorts = placeholders(template).filter((p) => p.default === undefined && /_PORT$/.test(p.name));
  const ports = await freePorts(needPorts.length);
  needPorts.forEach((p, i) => (vars[p.name] = ports[i]));
  return vars;
}

const FILES = envoyYamls();

describe("Envoy configs in the repository", () => {
  let MODULES: string[];
  beforeAllOrFailEach(async () => {
    // envoy/tests/model-router/envoy.template.yaml loads the health-writer fixture, built on demand.
    await buildHealthWriter();
    MODULES = modules();
  }, 180_000);

  it("include the user examples and the end-to-end templates", () => {
    expect(FILES).toContain("envoy/envoy.yaml");
    expect(FILES).toContain("envoy/noop.yaml");
    expect(FILES).toContain("envoy/tests/configs/wasm-filter.yaml");
    expect(FILES).toContain("envoy/tests/model-router/envoy.template.yaml");
  });

  it.each(FILES)("%s passes envoy --mode validate", async (file) => {
    const raw = readFileSync(path.join(ROOT, file), "utf8");
    // Examples name fixed paths under /etc/envoy/wasm; templates use ${WASM_DIR}.
    const config = raw.includes(EXAMPLE_WASM_DIR) ? localizeExample(raw, "${WASM_DIR}") : raw;
    const result = await validateConfig({ runner: "process", config, vars: await varsFor(config), wasm: MODULES });
    expect(result.output, result.output).toContain("OK");
    expect(result.ok).toBe(true);
  });

  // The examples as users run them: the image's layout, with the modules in /etc/envoy/wasm.
  it.each(FILES.filter((f) => !f.includes("/tests/")))("%s passes validate in the Envoy image unchanged", async (file) => {
    const config = readFileSync(path.join(ROOT, file), "utf8");
    const result = await validateConfig({ runner: "container", config, vars: await varsFor(config), wasm: MODULES });
    expect(result.ok, result.output).toBe(true);
  });
});
