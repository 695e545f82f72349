// A filter configuration the module rejects stops Envoy: `--mode validate` fails, and a serving
// Envoy refuses to start, with the filter's own log line naming what it expected.
import { describe, expect, it } from "vitest";
import { printEnvoyLogsOnFailure, readTemplate, startEnvoy, validateConfig, yamlString, type Runner } from "../harness";

const TEMPLATE = readTemplate("envoy/tests/configs/wasm-filter.yaml");
const BAD = { UPSTREAM_PORT: 9, FILTER_CONFIG: yamlString('{"x":1}') };
const NOOP_ERROR = "noop: configuration: expected an empty JSON object {} or nothing";
const RUNNERS: Runner[] = ["process", "container"];

printEnvoyLogsOnFailure();

describe.each(RUNNERS)("bad filter configuration (%s)", (runner) => {
  describe("validate", () => {
    it("accepts the good configuration", async () => {
      const result = await validateConfig({ runner, config: TEMPLATE, vars: { UPSTREAM_PORT: 9 }, wasm: ["build/noop.wasm"] });
      expect(result.output).toContain("OK");
      expect(result).toMatchObject({ ok: true, exitCode: 0 });
    });

    it.each(["noop.wasm", "ai-gateway.wasm"])("fails on {\"x\":1} with %s", async (module) => {
      const result = await validateConfig({ runner, config: TEMPLATE, vars: { ...BAD, WASM_FILE: module }, wasm: [`build/${module}`] });
      expect(result).toMatchObject({ ok: false, exitCode: 1 });
      expect(result.output).toContain(NOOP_ERROR);
      expect(result.output).toContain("Unable to create Wasm plugin noop");
    });

    it("fails on a google.protobuf.Struct configuration, saying to use a StringValue", async () => {
      const vars = { UPSTREAM_PORT: 9, CONFIG_TYPE: "Struct", FILTER_CONFIG: "{models: {llama: {versions: {v1: {cluster: c}}}}}", ROOT_ID: "model-router", WASM_FILE: "ai-gateway.wasm" };
      const result = await validateConfig({ runner, config: TEMPLATE, vars, wasm: ["build/ai-gateway.wasm"] });
      expect(result).toMatchObject({ ok: false, exitCode: 1 });
      expect(result.output).toContain("model-router: configuration: expected JSON, got binary data");
      expect(result.output).toContain("give the configuration as a google.protobuf.StringValue whose value is the JSON");
    });

    it("fails when the module file is missing", async () => {
      const result = await validateConfig({ runner, config: TEMPLATE, vars: { UPSTREAM_PORT: 9 }, wasm: [] });
      expect(result.ok).toBe(false);
      expect(result.output).toMatch(/noop\.wasm/);
    });

    it("fails when the root_id is not in the module", async () => {
      const result = await validateConfig({ runner, config: TEMPLATE, vars: { UPSTREAM_PORT: 9, ROOT_ID: "no-such-filter" }, wasm: ["build/noop.wasm"] });
      expect(result.ok).toBe(false);
    });
  });

  describe("serve", () => {
    it("refuses to start on {\"x\":1}", async () => {
      const start = startEnvoy({ runner, name: `bad-config-${runner}`, config: TEMPLATE, vars: BAD, wasm: ["build/noop.wasm"], startTimeoutMs: 30_000 });
      await expect(start).rejects.toThrow(NOOP_ERROR);
    });
  });
});
