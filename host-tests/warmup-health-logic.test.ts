// warmup-health's pure logic through build/pure/warmup-health.wasm (host-tests/warmup-health/
// pure-entry.ts): configuration errors with their exact texts and the derived probes, the judging
// of answers per probe kind (statuses, model lists, garbage and huge bodies), the state machine
// and its schedule on a fake clock (every transition, hysteresis, warmup, ramp), a version's
// record from its targets, the endpoints' paths and JSON, and the target and lease records
// against the TypeScript codecs in host-tests/warmup-health/records.ts. The README's example,
// configuration table, reasons and metrics are checked against the code here too.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeHealthRecord } from "./model-router/health-record";
import { loadPure, type PureModule } from "./pure/pure-module";
import { prng } from "./support-prng";
import { buildPureModule } from "./warmup-health/build";
import { decodeLease, decodeTarget, encodeLease, encodeTarget, STATES, targetKey, type TargetRecord } from "./warmup-health/records";

let mod: PureModule;
beforeAll(async () => {
  await buildPureModule();
  mod = await loadPure("warmup-health");
}, 180_000);
afterEach(() => {
  expect(mod.aborts).toEqual([]);
  mod.call("collect");
});

type Json = Record<string, any>;
const ROOT = path.resolve(__dirname, "..");
const read = (f: string) => readFileSync(path.join(ROOT, f), "utf8");

function setConfig(config: unknown): Json {
  return mod.json<Json>("setConfig", typeof config === "string" ? config : JSON.stringify(config));
}

const T = (extra: Json = {}, probe: Json = { kind: "tgi" }) => ({ model: "llama", version: "v1", cluster: "llama-v1", probe, ...extra });
const ONE = (extra: Json = {}, top: Json = {}) => ({ targets: [T(extra)], ...top });

// ---------------------------------------------------------------------------------------------

describe("warmup-health config", () => {
  describe("validate", () => {
    const KINDS = "one of kserve-v2, triton, mlserver, vllm, tgi, llama-cpp, torchserve, ollama, openai, custom";
    const CASES: Array<[string, unknown, string]> = [
      ["blank", "", 'configuration: expected a JSON object with "targets", got nothing'],
      ["not JSON", "{targets", "configuration: expected JSON, got text that is not JSON at byte 1 (expected string key)"],
      ["not an object", "[]", "configuration: expected a JSON object, got []"],
      ["no targets", {}, "targets: expected a list of 1 to 256 targets, got nothing"],
      ["empty targets", { targets: [] }, "targets: expected a list of 1 to 256 targets, got []"],
      ["unknown key", { targets: [T()], tick: 1 },
        "tick: expected one of the keys targets, tick_ms, lease_ms, interval_ms, timeout_ms, unhealthy_threshold, healthy_threshold, ramp_ms, max_response_bytes, path_prefix, got an unknown key"],
      ["tick_ms too small", ONE({}, { tick_ms: 50 }), "tick_ms: expected an integer 100..60000, got 50"],
      ["lease_ms under two ticks", ONE({}, { tick_ms: 1000, lease_ms: 1500 }), "lease_ms: expected at least twice tick_ms (2000), got 1500"],
      ["interval_ms", ONE({}, { interval_ms: 0 }), "interval_ms: expected an integer 100..3600000, got 0"],
      ["timeout_ms", ONE({}, { timeout_ms: "1s" }), 'timeout_ms: expected an integer 1..600000, got "1s"'],
      ["thresholds", ONE({}, { unhealthy_threshold: 0 }), "unhealthy_threshold: expected an integer 1..100, got 0"],
      ["ramp_ms", ONE({}, { ramp_ms: -1 }), "ramp_ms: expected an integer 0..86400000, got -1"],
      ["max_response_bytes", ONE({}, { max_response_bytes: 10 }), "max_response_bytes: expected an integer 1024..16777216, got 10"],
      ["path_prefix trailing slash", ONE({}, { path_prefix: "/health/" }),
        "path_prefix: expected \"\" (no endpoints) or a path starting with '/', not ending with '/', of visible ASCII, at most 256 characters, not /v1, /v2 or under them, got \"/health/\""],
      ["path_prefix the OpenAI API's", ONE({}, { path_prefix: "/v1/models" }),
        "path_prefix: expected \"\" (no endpoints) or a path starting with '/', not ending with '/', of visible ASCII, at most 256 characters, not /v1, /v2 or under them, got \"/v1/models\""],
      ["path_prefix the KServe API's", ONE({}, { path_prefix: "/v2" }),
        "path_prefix: expected \"\" (no endpoints) or a path starting with '/', not ending with '/', of visible ASCII, at most 256 characters, not /v1, /v2 or under them, got \"/v2\""],
      ["target not an object", { targets: [1] }, "targets[0]: expected an object with model, version, cluster and probe, got 1"],
      ["target unknown key", { targets: [T({ modle: "x" })] },
        "targets[0].modle: expected one of the keys model, version, cluster, probe, upstream_model, warmup, interval_ms, timeout_ms, unhealthy_threshold, healthy_threshold, ramp_ms, got an unknown key"],
      ["no model", { targets: [{ version: "v1", cluster: "c", probe: { kind: "tgi" } }] },
        "targets[0].model: expected a model name: 1-128 letters, digits, '.', '_', ':', '/', '-', starting with a letter or digit, got nothing"],
      ["bad version", { targets: [T({ version: "v/1" })] },
        "targets[0].version: expected 1-64 letters, digits, '.', '_', '-', starting with a letter or digit, got \"v/1\""],
      ["no cluster", { targets: [{ model: "m", version: "v1", probe: { kind: "tgi" } }] },
        "targets[0].cluster: expected an Envoy cluster name: 1-255 visible ASCII characters, got nothing"],
      ["no probe", { targets: [{ model: "m", version: "v1", cluster: "c" }] }, 'targets[0].probe: expected an object with "kind", got nothing'],
      ["probe a string", { targets: [T({ probe: "vllm" })] }, 'targets[0].probe: expected an object with "kind", got "vllm"'],
      ["probe without kind", { targets: [T({ probe: {} })] }, `targets[0].probe.kind: expected ${KINDS}, got nothing`],
      ["unknown kind", { targets: [T({ probe: { kind: "sglang" } })] }, `targets[0].probe.kind: expected ${KINDS}, got "sglang"`],
      ["key of another kind", { targets: [T({ probe: { kind: "vllm", router_mode: true } })] },
        "targets[0].probe.router_mode: expected one of the keys kind, headers, authority (a vllm probe's), got router_mode, a key of llama-cpp probes"],
      ["key of other kinds", { targets: [T({ probe: { kind: "tgi", upstream_version: "1" } })] },
        "targets[0].probe.upstream_version: expected one of the keys kind, headers, authority (a tgi probe's), got upstream_version, a key of kserve-v2, triton, mlserver probes"],
      ["key of no kind", { targets: [T({ probe: { kind: "tgi", router: true } })] },
        "targets[0].probe.router: expected one of the keys kind, headers, authority, got an unknown key"],
      ["router_mode not a boolean", { targets: [T({ probe: { kind: "llama-cpp", router_mode: "yes" } })] },
        'targets[0].probe.router_mode: expected true or false, got "yes"'],
      ["custom without path", { targets: [T({ probe: { kind: "custom" } })] }, "targets[0].probe.path: expected a path starting with '/', got nothing"],
      ["custom bad path", { targets: [T({ probe: { kind: "custom", path: "health" } })] },
        "targets[0].probe.path: expected a path starting with '/': 1-1024 visible ASCII characters, got \"health\""],
      ["custom bad method", { targets: [T({ probe: { kind: "custom", path: "/h", method: "get" } })] },
        'targets[0].probe.method: expected an HTTP method: 1-16 upper-case letters, got "get"'],
      ["custom statuses", { targets: [T({ probe: { kind: "custom", path: "/h", expected_statuses: [200, 700] } })] },
        "targets[0].probe.expected_statuses[1]: expected an HTTP status 100..599, got 700"],
      ["custom statuses empty", { targets: [T({ probe: { kind: "custom", path: "/h", expected_statuses: [] } })] },
        "targets[0].probe.expected_statuses: expected a list of 1 to 16 HTTP statuses (100..599), got []"],
      ["custom body a number", { targets: [T({ probe: { kind: "custom", path: "/h", body: 1 } })] },
        "targets[0].probe.body: expected a JSON object or array (sent as JSON) or a string (sent as it is), at most 65536 bytes, got 1"],
      ["header name", { targets: [T({ probe: { kind: "openai", headers: { Authorization: "x" } } })] },
        "targets[0].probe.headers.Authorization: expected a lower-case header name (letters, digits, '-', '_', '.') other than host, content-length, transfer-encoding, connection, upgrade, te, trailer, keep-alive, proxy-connection, got \"Authorization\""],
      ["warmup header of the connection", { targets: [T({ warmup: { requests: [{ path: "/x", body: "a", headers: { "transfer-encoding": "chunked" } }] } })] },
        "targets[0].warmup.requests[0].headers.transfer-encoding: expected a lower-case header name (letters, digits, '-', '_', '.') other than host, content-length, transfer-encoding, connection, upgrade, te, trailer, keep-alive, proxy-connection, got \"transfer-encoding\""],
      ["header value", { targets: [T({ probe: { kind: "openai", headers: { authorization: "a\nb" } } })] },
        'targets[0].probe.headers.authorization: expected a string of at most 4096 printable ASCII characters, got "a\\nb"'],
      ["upstream_version", { targets: [T({ probe: { kind: "kserve-v2", upstream_version: "" } })] },
        "targets[0].probe.upstream_version: expected 1-64 letters, digits, '.', '_', '-', starting with a letter or digit, got \"\""],
      ["twice", { targets: [T(), T({ probe: { kind: "vllm" } })] }, "targets[1]: expected each model, version and cluster once, got llama/v1@llama-v1 twice"],
      ["same metric tags", { targets: [T({ cluster: "llama.v1" }), T({ cluster: "llama_v1" })] },
        "targets[1]: expected model, version and cluster whose metric tags differ from every other target's (characters other than letters, digits, '_' and '-' become '_'), got llama/v1@llama_v1, the tags model=llama.version=v1.cluster=llama_v1 of targets[0] llama/v1@llama.v1"],
      ["warmup not an object", { targets: [T({ warmup: [] })] }, 'targets[0].warmup: expected an object with "requests", got []'],
      ["warmup without requests", { targets: [T({ warmup: {} })] }, "targets[0].warmup.requests: expected a list of 1 to 16 requests, got nothing"],
      ["warmup request without path", { targets: [T({ warmup: { requests: [{ body: {} }] } })] },
        "targets[0].warmup.requests[0].path: expected a path starting with '/', got nothing"],
      ["warmup count", { targets: [T({ warmup: { requests: [{ path: "/x", count: 0 }] } })] },
        "targets[0].warmup.requests[0].count: expected an integer 1..100, got 0"],
      ["warmup timeout under bound", { targets: [T({ warmup: { requests: [{ path: "/x" }], max_latency_ms: 500, timeout_ms: 100 } })] },
        "targets[0].warmup.timeout_ms: expected at least max_latency_ms (500), got 100"],
      ["per-target override", { targets: [T({ healthy_threshold: 101 })] }, "targets[0].healthy_threshold: expected an integer 1..100, got 101"],
    ];
    it.each(CASES)("rejects %s", (_name, config, error) => {
      expect(setConfig(config)).toEqual({ error });
    });
  });

  describe("derive", () => {
    it("gives every field its default", () => {
      const cfg = setConfig({ targets: [T()] });
      expect(cfg).toMatchObject({ tick_ms: 500, lease_ms: 3000, max_response_bytes: 1048576, path_prefix: "/ai-gateway/health" });
      expect(cfg.digest).toMatch(/^[0-9a-f]{16}$/);
      expect(cfg.targets[0]).toMatchObject({
        model: "llama", version: "v1", cluster: "llama-v1", upstream_model: "llama", key: "aigw/warmup-health/target/llama/v1@llama-v1",
        interval_ms: 5000, timeout_ms: 2000, unhealthy_threshold: 3, healthy_threshold: 2, ramp_ms: 30000, warmup: null,
        probe: { kind: "tgi", authority: "llama-v1", headers: [] },
      });
      expect(cfg.versions).toEqual([{ model: "llama", version: "v1", key: "aigw/warmup-health/state/llama/v1", targets: [0] }]);
    });

    const path = (method: string, p: string, check = 0, extra: Json = {}) => ({ method, path: p, body: null, expected: [200], check, contains: "", ...extra });
    const STEPS: Array<[string, Json, Json[]]> = [
      ["kserve-v2", { kind: "kserve-v2" }, [path("GET", "/v2/models/srv-llama/ready")]],
      ["kserve-v2 with a version", { kind: "kserve-v2", upstream_version: "3" }, [path("GET", "/v2/models/srv-llama/versions/3/ready")]],
      ["triton", { kind: "triton", upstream_version: "1" }, [path("GET", "/v2/models/srv-llama/versions/1/ready")]],
      ["mlserver", { kind: "mlserver", upstream_version: "v1" }, [path("GET", "/v2/models/srv-llama/versions/v1/ready")]],
      ["vllm", { kind: "vllm" }, [path("GET", "/health"), path("GET", "/v1/models", 1)]],
      ["tgi", { kind: "tgi" }, [path("GET", "/health")]],
      ["llama-cpp", { kind: "llama-cpp" }, [path("GET", "/health")]],
      ["llama-cpp router mode", { kind: "llama-cpp", router_mode: true }, [path("GET", "/models", 3)]],
      ["torchserve", { kind: "torchserve" }, [path("GET", "/ping")]],
      ["ollama", { kind: "ollama" }, [path("GET", "/api/ps", 2)]],
      ["openai", { kind: "openai" }, [path("GET", "/v1/models", 1)]],
      ["custom", { kind: "custom", path: "/healthz" }, [path("GET", "/healthz")]],
      ["custom in full", { kind: "custom", method: "POST", path: "/check", expected_statuses: [200, 204], body: { q: 1 }, body_contains: "OK" },
        [path("POST", "/check", 4, { body: '{"q":1}', expected: [200, 204], contains: "OK" })]],
    ];
    it.each(STEPS)("derives the %s probe", (_name, probe, steps) => {
      const cfg = setConfig({ targets: [T({ upstream_model: "srv-llama" }, probe)] });
      expect(cfg.targets[0].probe.steps).toEqual(steps);
    });

    it("percent-encodes an upstream model name that is not one path segment in a KServe path", () => {
      const cfg = setConfig({ targets: [T({ upstream_model: "org/llama?x=1#%" }, { kind: "kserve-v2" })] });
      expect(cfg.targets[0].probe.steps).toEqual([path("GET", "/v2/models/org%2Fllama%3Fx%3D1%23%25/ready")]);
      // Names made of segment characters stay as they are.
      const plain = setConfig({ targets: [T({ upstream_model: "Llama-3.1_q4:latest~a@b" }, { kind: "triton" })] });
      expect(plain.targets[0].probe.steps).toEqual([path("GET", "/v2/models/Llama-3.1_q4:latest~a@b/ready")]);
    });

    it("adds content-type to JSON bodies unless given, and keeps extra headers and authority", () => {
      const cfg = setConfig({ targets: [T({
        probe: { kind: "openai", headers: { authorization: "Bearer k" }, authority: "api.example.com" },
        warmup: { requests: [{ path: "/v1/completions", body: { model: "m" }, count: 2 }, { path: "/raw", body: "plain", headers: { "x-a": "1" } }, { path: "/get" }] },
      })] });
      const t = cfg.targets[0];
      expect(t.probe).toMatchObject({ authority: "api.example.com", headers: [["authorization", "Bearer k"]] });
      expect(t.warmup).toEqual({
        total: 4, max_latency_ms: 10000, timeout_ms: 30000,
        requests: [
          { method: "POST", path: "/v1/completions", headers: [["content-type", "application/json"]], body: '{"model":"m"}', count: 2 },
          { method: "POST", path: "/raw", headers: [["x-a", "1"]], body: "plain", count: 1 },
          { method: "GET", path: "/get", headers: [], body: null, count: 1 },
        ],
      });
    });

    it("applies top-level timing as defaults and per-target overrides", () => {
      const cfg = setConfig({ interval_ms: 1000, ramp_ms: 0, healthy_threshold: 5, targets: [T(), T({ cluster: "b", interval_ms: 300, ramp_ms: 7 })] });
      expect(cfg.targets.map((t: Json) => [t.interval_ms, t.ramp_ms, t.healthy_threshold])).toEqual([[1000, 0, 5], [300, 7, 5]]);
      // Two endpoints of one version make one version group.
      expect(cfg.versions).toEqual([{ model: "llama", version: "v1", key: "aigw/warmup-health/state/llama/v1", targets: [0, 1] }]);
    });

    it("gives roots configured alike one lease digest, whatever their endpoint settings or key order", () => {
      const a = setConfig({ targets: [T()], tick_ms: 500 }).digest;
      expect(setConfig({ tick_ms: 500, targets: [T()], path_prefix: "/h" }).digest).toBe(a);
      expect(setConfig({ targets: [T({ cluster: "other" })], tick_ms: 500 }).digest).not.toBe(a);
      expect(setConfig({ targets: [T()], tick_ms: 600 }).digest).not.toBe(a);
    });
  });

  describe("README", () => {
    const example = read("plugins/warmup-health/config.example.json");
    const readme = read("plugins/warmup-health/README.md");

    it("README's full example equals config.example.json", () => {
      const section = readme.slice(readme.indexOf("### Full example"));
      const block = /```json\n([\s\S]*?)```/.exec(section)?.[1];
      expect(block).toBe(example);
    });

    it("config.example.json is a valid configuration", () => {
      expect(setConfig(example)).not.toHaveProperty("error");
    });

    it("documents every configuration key in its tables", () => {
      const tables = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("### Full example"));
      const documented = new Set([...tables.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]));
      const keys = [
        "targets", "tick_ms", "lease_ms", "interval_ms", "timeout_ms", "unhealthy_threshold", "healthy_threshold", "ramp_ms",
        "max_response_bytes", "path_prefix", "model", "version", "cluster", "probe", "upstream_model", "warmup", "kind", "headers",
        "authority", "upstream_version", "router_mode", "method", "path", "expected_statuses", "body", "body_contains", "requests",
        "max_latency_ms", "count",
      ];
      expect(keys.filter((k) => !documented.has(k))).toEqual([]);
    });

    it("lists every reason in the README's reason table, in the code's order", () => {
      const from = readme.indexOf("### Reasons");
      const table = readme.slice(from, readme.indexOf("\n## ", from));
      const rows = [...table.matchAll(/^\| `([a-z-]+)` \|/gm)].map((m) => m[1]);
      expect(rows).toEqual(mod.json("reasons"));
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("warmup-health probes", () => {
  type Answer = { status?: number; failed?: boolean; timed_out?: boolean; refused?: boolean; body_size?: number };
  const judge = (t: number, s: number, answer: Answer, body: string | Uint8Array = "") => mod.json<Json>("judge", t, s, JSON.stringify(answer), body);

  beforeAll(() => {
    setConfig({
      max_response_bytes: 2048,
      targets: [
        T({ cluster: "v" }, { kind: "vllm" }),
        T({ cluster: "l", upstream_model: "tiny-v1" }, { kind: "llama-cpp", router_mode: true }),
        T({ cluster: "o", upstream_model: "llama3" }, { kind: "ollama" }),
        T({ cluster: "c" }, { kind: "custom", path: "/s", expected_statuses: [204, 200], body_contains: "SERVING" }),
        T({ cluster: "k" }, { kind: "kserve-v2" }),
      ],
    });
  });

  const models = (...ids: string[]) => JSON.stringify({ object: "list", data: ids.map((id) => ({ id, object: "model" })) });
  const CASES: Array<[string, number, number, Answer, string | Uint8Array, string, string]> = [
    // [name, target, step, answer, body, reason, detail]
    ["kserve ready", 4, 0, { status: 200 }, "", "ok", "GET /v2/models/llama/ready: status 200"],
    ["kserve 503 while loading", 4, 0, { status: 503 }, "", "status", "GET /v2/models/llama/ready: status 503"],
    ["mlserver's 400 while loading", 4, 0, { status: 400 }, "", "status", "GET /v2/models/llama/ready: status 400"],
    ["a 500", 4, 0, { status: 500 }, "", "status", "GET /v2/models/llama/ready: status 500"],
    ["a 204 where 200 is expected", 4, 0, { status: 204 }, "", "status", "GET /v2/models/llama/ready: status 204"],
    ["a reset", 4, 0, { failed: true }, "", "reset", "GET /v2/models/llama/ready: connection failed or reset"],
    ["a timeout", 4, 0, { status: 504, timed_out: true }, "upstream request timeout", "timeout", "GET /v2/models/llama/ready: no answer within 2000 ms"],
    ["refused", 4, 0, { refused: true }, "", "refused", "GET /v2/models/llama/ready: refused by Envoy (unknown cluster or no healthy host)"],
    ["vllm health", 0, 0, { status: 200 }, "", "ok", "GET /health: status 200"],
    ["vllm lists the model", 0, 1, { status: 200 }, models("other", "llama"), "ok", 'GET /v1/models: lists "llama"'],
    ["vllm lacks the model", 0, 1, { status: 200 }, models("other"), "model-missing", 'GET /v1/models: "llama" is not listed'],
    ["garbage JSON", 0, 1, { status: 200 }, "{\"data\": [", "bad-body", "GET /v1/models: body is not JSON (unexpected end of input at byte 10)"],
    ["not UTF-8", 0, 1, { status: 200 }, new Uint8Array([0x22, 0xff, 0x22]), "bad-body", "GET /v1/models: body is not JSON (invalid UTF-8 at byte 1)"],
    ["no data list", 0, 1, { status: 200 }, '{"models":[]}', "bad-body", 'GET /v1/models: body has no "data" list'],
    ["a JSON array", 0, 1, { status: 200 }, "[1,2]", "bad-body", 'GET /v1/models: body has no "data" list'],
    ["too deep", 0, 1, { status: 200 }, "[".repeat(40) + "]".repeat(40), "bad-body", "GET /v1/models: body is JSON beyond the probe's limits (nesting too deep at byte 32)"],
    ["a number beyond a double", 0, 1, { status: 200 }, '{"data":[{"id":1e999}]}', "bad-body", "GET /v1/models: body is JSON beyond the probe's limits (number out of range at byte 15)"],
    ["ids not strings", 0, 1, { status: 200 }, '{"data":[{"id":1},"x",null]}', "model-missing", 'GET /v1/models: "llama" is not listed'],
    ["a huge body", 0, 1, { status: 200, body_size: 50_000_000 }, "", "body-too-large", "GET /v1/models: body of 50000000 bytes, over max_response_bytes 2048"],
    ["llama router: loaded", 1, 0, { status: 200 }, JSON.stringify({ data: [{ id: "tiny-v1", status: { value: "loaded", args: [] } }] }), "ok", 'GET /models: "tiny-v1" is loaded'],
    ["llama router: loading", 1, 0, { status: 200 }, JSON.stringify({ data: [{ id: "tiny-v1", status: { value: "loading" } }] }), "not-loaded", 'GET /models: "tiny-v1" is loading'],
    ["llama router: status a string", 1, 0, { status: 200 }, JSON.stringify({ data: [{ id: "tiny-v1", status: "loaded" }] }), "ok", 'GET /models: "tiny-v1" is loaded'],
    ["llama router: no status", 1, 0, { status: 200 }, JSON.stringify({ data: [{ id: "tiny-v1" }] }), "not-loaded", 'GET /models: "tiny-v1" is without a status'],
    ["llama router: other model", 1, 0, { status: 200 }, JSON.stringify({ data: [{ id: "tiny-v2", status: { value: "loaded" } }] }), "model-missing", 'GET /models: "tiny-v1" is not listed'],
    ["ollama running (tag)", 2, 0, { status: 200 }, JSON.stringify({ models: [{ name: "llama3:latest", model: "llama3:latest" }] }), "ok", 'GET /api/ps: "llama3" is running'],
    ["ollama not running", 2, 0, { status: 200 }, JSON.stringify({ models: [] }), "model-missing", 'GET /api/ps: "llama3" is not running'],
    ["ollama garbage", 2, 0, { status: 200 }, "null", "bad-body", 'GET /api/ps: body has no "models" list'],
    ["custom 204 with the text", 3, 0, { status: 204 }, "status: SERVING", "ok", "GET /s: status 204"],
    ["custom without the text", 3, 0, { status: 200 }, "NOT_SERVING".replace("SERVING", "SERV"), "body-mismatch", 'GET /s: body lacks "SERVING"'],
    ["custom other status", 3, 0, { status: 503 }, "SERVING", "status", "GET /s: status 503"],
  ];
  it.each(CASES)("%s", (_name, t, s, answer, body, reason, detail) => {
    expect(judge(t, s, answer, body)).toEqual({ reason, detail });
  });

  it("never traps on random bytes as a model list", () => {
    const rand = prng(7);
    for (let i = 0; i < 500; i++) {
      const n = Math.floor(rand() * 300);
      const bytes = new Uint8Array(n);
      for (let k = 0; k < n; k++) bytes[k] = rand() < 0.5 ? "{}[]\",:0aid".charCodeAt(Math.floor(rand() * 12)) : Math.floor(rand() * 256);
      for (const t of [0, 1, 2]) expect(["ok", "bad-body", "model-missing", "not-loaded"]).toContain(judge(t, t === 0 ? 1 : 0, { status: 200 }, bytes).reason);
    }
  });

  it("judges warmup answers by status and latency", () => {
    setConfig({ targets: [T({ warmup: { requests: [{ path: "/a", count: 2 }, { path: "/b", body: {} }], max_latency_ms: 500, timeout_ms: 1000 } })] });
    const w = (n: number, a: Json) => mod.json<Json>("judgeWarmupAnswer", 0, n, JSON.stringify(a));
    expect(w(0, { status: 200, latency_ms: 120 })).toEqual({ reason: "ok", detail: "warmup GET /a: status 200 in 120 ms" });
    expect(w(1, { status: 201, latency_ms: 500 })).toEqual({ reason: "ok", detail: "warmup GET /a: status 201 in 500 ms" });
    expect(w(2, { status: 200, latency_ms: 501 })).toEqual({ reason: "slow", detail: "warmup POST /b: 501 ms, over max_latency_ms 500" });
    expect(w(2, { status: 400, latency_ms: 5 })).toEqual({ reason: "status", detail: "warmup POST /b: status 400" });
    expect(w(0, { status: 504, timed_out: true, latency_ms: 1000 })).toEqual({ reason: "timeout", detail: "warmup GET /a: no answer within 1000 ms" });
    expect(w(0, { failed: true })).toEqual({ reason: "reset", detail: "warmup GET /a: connection failed or reset" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("warmup-health state machine", () => {
  interface Rec { state: string; ramp: number; since: string; next_due: string; failures: number; successes: number; warmup_done: number; flags: number; reason: string }
  interface StepResult { from: string; to: string; warmup_ms: number; record: Rec }
  const probe = (reason: string, now: number, latency = 10) => mod.json<StepResult>("machineProbe", reason, latency, BigInt(now));
  const warm = (reason: string, now: number, latency = 10) => mod.json<StepResult>("machineWarmup", reason, latency, BigInt(now));
  const tick = (now: number) => mod.json<{ changed: boolean; due: string; record: Rec }>("machineTick", BigInt(now));

  const NO_WARMUP = T({ interval_ms: 1000, unhealthy_threshold: 3, healthy_threshold: 2, ramp_ms: 10_000 });
  const WITH_WARMUP = T({
    cluster: "w", interval_ms: 1000, unhealthy_threshold: 2, healthy_threshold: 2, ramp_ms: 0,
    warmup: { requests: [{ path: "/w", count: 3 }], max_latency_ms: 100, timeout_ms: 200 },
  });
  beforeAll(() => {
    setConfig({ targets: [NO_WARMUP, WITH_WARMUP] });
  });

  it("starts unknown and due at once", () => {
    mod.call("machineReset", 0);
    expect(tick(0)).toMatchObject({ changed: false, due: "probe", record: { state: "unknown", ramp: 0, next_due: "0", reason: "not probed yet" } });
  });

  it("goes unknown → loading → ready, then schedules a probe every interval", () => {
    mod.call("machineReset", 0);
    expect(probe("status", 1000)).toMatchObject({ from: "unknown", to: "loading", record: { since: "1000", next_due: "2000", reason: "probe status" } });
    expect(tick(1999).due).toBe("none");
    expect(tick(2000).due).toBe("probe");
    expect(probe("timeout", 2000)).toMatchObject({ from: "loading", to: "loading", record: { since: "1000" } });
    // One pass is enough at start, as with Envoy's active health checks.
    expect(probe("ok", 3000)).toMatchObject({ from: "loading", to: "ready", record: { since: "3000", ramp: 0, next_due: "4000", reason: "probe ok" } });
  });

  it("probes a target left warming by a configuration with a warmup, when one without a warmup takes it over", () => {
    mod.call("machineReset", 1);
    expect(probe("ok", 1000)).toMatchObject({ to: "warming" });
    expect(tick(1000).due).toBe("warmup");
    // The new owner has no warmup: it probes (a warmup it cannot send would leave it warming for good).
    mod.call("machineUse", 0);
    expect(tick(1000).due).toBe("probe");
    expect(probe("status", 1000)).toMatchObject({ from: "warming", to: "loading" });
    expect(probe("ok", 2000)).toMatchObject({ from: "loading", to: "ready" });
    mod.call("machineReset", 1);
    probe("ok", 1000);
    mod.call("machineUse", 0);
    expect(probe("ok", 1500)).toMatchObject({ from: "warming", to: "ready" });
    // With a warmup, a probe answer while warming still changes nothing.
    mod.call("machineReset", 1);
    probe("ok", 1000);
    expect(probe("status", 1200)).toMatchObject({ from: "warming", to: "warming" });
  });

  it("ramps a target seen loading from 0 to 1 over ramp_ms from entering ready", () => {
    mod.call("machineReset", 0);
    expect(probe("status", 4000).record.flags).toBe(1);
    probe("ok", 5000);
    const ramps = [5000, 5001, 7500, 10_000, 14_999].map((t) => tick(t).record.ramp);
    expect(ramps).toEqual([0, 1, 2500, 5000, 9999]);
    // Fully ramped in: the flag goes, and nothing changes any more.
    expect(tick(15_000)).toMatchObject({ changed: true, record: { ramp: 10_000, flags: 0 } });
    expect(tick(20_000)).toMatchObject({ changed: false, record: { ramp: 10_000 } });
  });

  it("is fully ramped at once when its first probe passes (the server was already serving)", () => {
    mod.call("machineReset", 0);
    expect(probe("ok", 5000)).toMatchObject({ from: "unknown", to: "ready", record: { ramp: 10_000, flags: 0 } });
    expect(tick(5001)).toMatchObject({ changed: false, record: { ramp: 10_000 } });
  });

  it("needs unhealthy_threshold failures in a row to leave ready, and a pass resets the count", () => {
    mod.call("machineReset", 0);
    probe("ok", 0);
    expect(probe("status", 1000)).toMatchObject({ to: "ready", record: { failures: 1, reason: "failure 1 of 3: probe status" } });
    expect(probe("reset", 2000)).toMatchObject({ to: "ready", record: { failures: 2 } });
    expect(probe("ok", 3000)).toMatchObject({ to: "ready", record: { failures: 0, since: "0" } });
    probe("status", 4000);
    probe("status", 5000);
    expect(probe("timeout", 6000)).toMatchObject({ from: "ready", to: "failing", record: { since: "6000", ramp: 0, reason: "probe timeout" } });
  });

  it("needs healthy_threshold passes in a row to come back from failing, and restarts the ramp", () => {
    mod.call("machineReset", 0);
    probe("ok", 0);
    for (const t of [1000, 2000, 3000]) probe("status", t);
    expect(probe("ok", 4000)).toMatchObject({ to: "failing", record: { successes: 1, reason: "pass 1 of 2: probe ok" } });
    expect(probe("status", 5000)).toMatchObject({ to: "failing", record: { successes: 0, since: "3000" } });
    probe("ok", 6000);
    expect(probe("ok", 7000)).toMatchObject({ from: "failing", to: "ready", record: { since: "7000", ramp: 0 } });
    expect(tick(12_000).record.ramp).toBe(5000);
  });

  it("warms up after the first pass: requests back to back, ready when all pass under the bound", () => {
    mod.call("machineReset", 1);
    expect(probe("ok", 1000)).toMatchObject({ to: "warming", record: { since: "1000", next_due: "1000", reason: "ready, warming up: probe ok" } });
    expect(tick(1000).due).toBe("warmup");
    expect(warm("ok", 1050)).toMatchObject({ to: "warming", record: { warmup_done: 1, next_due: "1050", reason: "warmup 1 of 3: warmup ok" } });
    warm("ok", 1100);
    // ramp_ms 0: fully ramped at once.
    expect(warm("ok", 1400)).toMatchObject({ from: "warming", to: "ready", warmup_ms: 400, record: { ramp: 10_000, since: "1400", next_due: "2400", reason: "warmed up: 3 of 3 requests within 100 ms" } });
    expect(tick(2400).due).toBe("probe");
  });

  it("starts the warmup round over after a slow answer, without counting a failure", () => {
    mod.call("machineReset", 1);
    probe("ok", 0);
    warm("ok", 10);
    expect(warm("slow", 20)).toMatchObject({ to: "warming", record: { warmup_done: 0, failures: 0, next_due: "1020", reason: "warmup slow" } });
    expect(tick(1019).due).toBe("none");
    expect(tick(1020).due).toBe("warmup");
  });

  it("goes back to loading after unhealthy_threshold failed warmup requests", () => {
    mod.call("machineReset", 1);
    probe("ok", 0);
    expect(warm("status", 10)).toMatchObject({ to: "warming", record: { failures: 1, reason: "failure 1 of 2: warmup status" } });
    expect(warm("timeout", 1010)).toMatchObject({ from: "warming", to: "loading", record: { since: "1010", failures: 0 } });
    expect(tick(2010).due).toBe("probe");
  });

  it("comes back from failing through warming when warmup is configured", () => {
    mod.call("machineReset", 1);
    probe("ok", 0);
    for (const t of [1, 2, 3]) warm("ok", t);
    probe("reset", 1000);
    expect(probe("reset", 2000).to).toBe("failing");
    probe("ok", 3000);
    expect(probe("ok", 4000)).toMatchObject({ from: "failing", to: "warming" });
  });

  it("ignores warmup answers outside warming and probe answers while warming", () => {
    mod.call("machineReset", 1);
    expect(warm("ok", 5)).toMatchObject({ from: "unknown", to: "unknown", record: { warmup_done: 0 } });
    probe("ok", 10);
    expect(probe("status", 20)).toMatchObject({ from: "warming", to: "warming", record: { failures: 0, next_due: "10" } });
  });

  it("encodes the record it keeps in the shared-data format", () => {
    mod.call("machineReset", 0);
    probe("ok", 1_767_225_600_000);
    const r = decodeTarget(mod.bytes("machineBytes"));
    expect(r).toMatchObject({ state: "ready", since: 1_767_225_600_000n, nextDue: 1_767_225_601_000n, checked: 1_767_225_600_000n, latencyMs: 10, reason: "probe ok" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("warmup-health version record", () => {
  const agg = (records: Array<Json | null>, clusters: string[]) => mod.json<Json>("aggregate", JSON.stringify(records), JSON.stringify(clusters));

  it("is the one target's record for a single target", () => {
    const v = agg([{ state: "warming", since: 5, reason: "warmup 1 of 3" }], ["a"]);
    expect(v).toMatchObject({ state: "warming", ramp: 0, since: "5", reason: "warmup 1 of 3" });
    expect(decodeHealthRecord(Buffer.from(v.bytes, "hex"))).toEqual({ state: "warming", sinceMs: 5n, rampPermyriad: 0, reason: "warmup 1 of 3" });
  });

  it.each([
    [["loading", "ready"], "ready", "1 of 2 targets ready; b: r1"],
    [["failing", "loading"], "loading", "0 of 2 targets ready; b: r1"],
    [["unknown", "failing"], "failing", "0 of 2 targets ready; b: r1"],
    [["warming", "loading"], "warming", "0 of 2 targets ready; a: r0"],
  ])("takes the furthest state of several targets: %j is %s", (states, state, reason) => {
    const v = agg(states.map((s, i) => ({ state: s, since: 10 + i, ramp: s === "ready" ? 4000 : 0, reason: `r${i}` })), ["a", "b"]);
    expect(v).toMatchObject({ state, reason });
  });

  it("takes the largest ramp among ready targets", () => {
    const v = agg([{ state: "ready", ramp: 2000, since: 1, reason: "x" }, { state: "ready", ramp: 10_000, since: 2, reason: "y" }, null], ["a", "b", "c"]);
    expect(v).toMatchObject({ state: "ready", ramp: 10_000, since: "2", reason: "2 of 3 targets ready; b: y" });
  });

  it("is unknown with no records", () => {
    expect(agg([null, null], ["a", "b"])).toMatchObject({ state: "unknown", ramp: 0, since: "0", reason: "not probed yet" });
  });
});

// ---------------------------------------------------------------------------------------------

describe("warmup-health endpoints", () => {
  beforeAll(() => {
    setConfig({ targets: [
      T({ model: "llama", version: "v1", cluster: "a" }),
      T({ model: "llama", version: "v2", cluster: "b", warmup: { requests: [{ path: "/w", count: 2 }] } }),
      T({ model: "org/m", version: "v1", cluster: "c" }, { kind: "openai" }),
    ] });
  });
  const NOW = 1_767_225_700_000n;
  const ep = (p: string, versions: Array<Json | null> = [null, null, null], targets: Array<Json | null> = [null, null, null], now = NOW) =>
    mod.json<{ scope: string; status: number | null; body: string | null }>("endpoint", p, JSON.stringify(versions), JSON.stringify(targets), now);

  it.each([
    ["/ai-gateway/health", "all"], ["/ai-gateway/health/", "all"], ["/ai-gateway/health?x=1", "all"],
    ["/ai-gateway/health/llama", "model"], ["/ai-gateway/health/llama?verbose", "model"], ["/ai-gateway/health/llama/v2", "version"],
    ["/ai-gateway/health/org/m", "model"], ["/ai-gateway/health/org/m/v1", "version"],
    ["/ai-gateway/health/llama/v9", "unknown-version"], ["/ai-gateway/health/gpt", "unknown-model"], ["/ai-gateway/health/a/b/c", "unknown-model"],
    ["/ai-gateway/health/llama/", "model"], ["/ai-gateway/health/llama/v2/", "version"], ["/ai-gateway/health/org/m/?x=1", "model"], ["/ai-gateway/health/llama//", "unknown-version"],
    ["/ai-gateway/healthz", "none"], ["/v1/models", "none"], ["/ai-gateway", "none"],
  ])("matches %s as %s", (p, scope) => {
    expect(ep(p).scope).toBe(scope);
  });

  const READY = { state: "ready", ramp: 5000, since: 1_767_225_600_000, reason: "ok" };
  const LOADING = { state: "loading", since: 1_767_225_600_500, reason: "GET /health: status 503" };

  it("answers every version and target as JSON, 200 even when some are not ready", () => {
    const r = ep("/ai-gateway/health", [READY, LOADING, null], [
      { ...READY, checked: 1_767_225_601_000, latency_ms: 12 }, { ...LOADING, state: "warming", warmup_done: 1, checked: 1_767_225_601_000, latency_ms: 7 }, null,
    ]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body!)).toEqual({
      versions: [
        { model: "llama", version: "v1", state: "ready", ready: true, ramp: 0.5, since: "2026-01-01T00:00:00.000Z", since_ms: 1_767_225_600_000, reason: "ok" },
        { model: "llama", version: "v2", state: "loading", ready: false, ramp: 0, since: "2026-01-01T00:00:00.500Z", since_ms: 1_767_225_600_500, reason: "GET /health: status 503" },
        { model: "org/m", version: "v1", state: "unknown", ready: false, ramp: 0, since: null, since_ms: null, reason: "no record" },
      ],
      targets: [
        { model: "llama", version: "v1", cluster: "a", probe: "tgi", state: "ready", ready: true, ramp: 0.5, since: "2026-01-01T00:00:00.000Z", since_ms: 1_767_225_600_000, reason: "ok", latency_ms: 12, checked: "2026-01-01T00:00:01.000Z", checked_ms: 1_767_225_601_000 },
        { model: "llama", version: "v2", cluster: "b", probe: "tgi", state: "warming", ready: false, ramp: 0, since: "2026-01-01T00:00:00.500Z", since_ms: 1_767_225_600_500, reason: "GET /health: status 503", latency_ms: 7, checked: "2026-01-01T00:00:01.000Z", checked_ms: 1_767_225_601_000, warmup: { done: 1, of: 2 } },
        { model: "org/m", version: "v1", cluster: "c", probe: "openai", state: "unknown", ready: false, ramp: 0, since: null, since_ms: null, reason: "no record", latency_ms: null, checked: null, checked_ms: null },
      ],
      ready: false,
    });
  });

  it("shows a version record past its deadline, and its targets, as unknown since the deadline, as the router reads it", () => {
    const until = 1_767_225_650_000;
    const r = ep("/ai-gateway/health/llama/v1", [{ ...READY, fresh_until: until }, null, null], [{ ...READY, checked: 1_767_225_601_000, latency_ms: 12 }, null, null]);
    expect(r.status).toBe(503);
    const reason = "record not renewed: no prober is running";
    expect(JSON.parse(r.body!)).toMatchObject({
      versions: [{ model: "llama", version: "v1", state: "unknown", ready: false, ramp: 0, since: "2026-01-01T00:00:50.000Z", since_ms: until, reason }],
      // Its targets are no longer probed either: when they were last checked stays.
      targets: [{ cluster: "a", state: "unknown", ready: false, ramp: 0, since_ms: until, reason, latency_ms: 12, checked_ms: 1_767_225_601_000 }],
    });
    // Until its deadline it stands.
    expect(ep("/ai-gateway/health/llama/v1", [{ ...READY, fresh_until: until }, null, null], [READY, null, null], BigInt(until)).status).toBe(200);
  });

  it("answers a model 200 when any of its versions is ready, else 503", () => {
    const r = ep("/ai-gateway/health/llama", [READY, LOADING, null]);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body!);
    expect(body.ready).toBe(true);
    expect(body.versions.map((v: Json) => v.version)).toEqual(["v1", "v2"]);
    expect(body.targets.map((t: Json) => t.cluster)).toEqual(["a", "b"]);
    expect(ep("/ai-gateway/health/llama", [LOADING, LOADING, READY]).status).toBe(503);
  });

  it("answers a version 200 when it is ready, else 503", () => {
    expect(ep("/ai-gateway/health/llama/v1", [READY, LOADING, null]).status).toBe(200);
    const r = ep("/ai-gateway/health/llama/v2", [READY, LOADING, null]);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body!)).toMatchObject({ ready: false, versions: [{ version: "v2", state: "loading" }], targets: [{ cluster: "b" }] });
    expect(ep("/ai-gateway/health/org/m/v1", [null, null, READY]).status).toBe(200);
  });

  it("answers 404 in the OpenAI error shape for what no target names", () => {
    expect(ep("/ai-gateway/health/gpt")).toMatchObject({ status: 404 });
    expect(JSON.parse(ep("/ai-gateway/health/gpt").body!)).toEqual({
      error: { message: "No target for model 'gpt'", type: "invalid_request_error", param: null, code: "model_not_found" },
    });
    expect(JSON.parse(ep("/ai-gateway/health/llama/v9").body!).error).toMatchObject({
      message: "No target for version 'v9' of model 'llama'", code: "model_version_not_found",
    });
  });

  it("formats times as JavaScript does, and leaves out what no Date can show", () => {
    const rand = prng(3);
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor(rand() * 253_402_300_799_999);
      expect(mod.text("iso", BigInt(ms))).toBe(new Date(ms).toISOString());
    }
    expect(mod.text("iso", 253_402_300_799_999n)).toBe("9999-12-31T23:59:59.999Z");
    expect(mod.text("iso", 253_402_300_800_000n)).toBe("null");
    expect(mod.text("iso", 0xffff_ffff_ffff_ffffn)).toBe("null");
  });
});

// ---------------------------------------------------------------------------------------------

describe("warmup-health records", () => {
  const rand = prng(11);
  const randomRecord = (): TargetRecord => ({
    state: STATES[Math.floor(rand() * 5)],
    ramp: Math.floor(rand() * 10_001),
    since: BigInt(Math.floor(rand() * 2 ** 53)),
    nextDue: BigInt(Math.floor(rand() * 2 ** 53)),
    checked: BigInt(Math.floor(rand() * 2 ** 53)),
    latencyMs: Math.floor(rand() * 2 ** 32),
    successes: Math.floor(rand() * 65536),
    failures: Math.floor(rand() * 65536),
    warmupDone: Math.floor(rand() * 65536),
    flags: Math.floor(rand() * 2),
    reason: ["", "ok", "GET /health: status 503", "ünïcødé ✓ 🚀", "x".repeat(1024)][Math.floor(rand() * 5)],
  });
  const asJson = (r: TargetRecord) => JSON.stringify({
    state: STATES.indexOf(r.state), ramp: r.ramp, since: String(r.since), next_due: String(r.nextDue), checked: String(r.checked),
    latency_ms: r.latencyMs, successes: r.successes, failures: r.failures, warmup_done: r.warmupDone, flags: r.flags, reason: r.reason,
  });

  it("encodes target records as the TypeScript codec does, and decodes its bytes", () => {
    for (let i = 0; i < 300; i++) {
      const r = randomRecord();
      const bytes = mod.bytes("encodeTarget", asJson(r));
      expect(Buffer.from(bytes).toString("hex")).toBe(Buffer.from(encodeTarget(r)).toString("hex"));
      expect(decodeTarget(bytes)).toEqual(r);
      const back = mod.json<Json>("decodeTarget", encodeTarget(r));
      expect(back).toEqual({
        state: r.state, ramp: r.ramp, since: String(r.since), next_due: String(r.nextDue), checked: String(r.checked),
        latency_ms: r.latencyMs, successes: r.successes, failures: r.failures, warmup_done: r.warmupDone, flags: r.flags, reason: r.reason,
      });
    }
  });

  it("cuts a long reason at a character boundary", () => {
    const r = { ...randomRecord(), reason: "é".repeat(700) };
    const decoded = decodeTarget(mod.bytes("encodeTarget", asJson(r)));
    expect(decoded!.reason).toBe("é".repeat(512));
  });

  it("decodes what the TypeScript codec calls malformed to null, and never traps on garbage", () => {
    const good = encodeTarget(randomRecord());
    const bad = [new Uint8Array(0), good.slice(0, 41), good.slice(0, good.length - 1)];
    for (const [offset, value] of [[0, 0], [1, 5], [2, 0x11]] as const) {
      const b = good.slice();
      b[offset] = value;
      if (offset === 2) b[3] = 0x27; // 0x2711 = 10,001
      bad.push(b);
    }
    for (const b of bad) {
      expect(decodeTarget(b)).toBeNull();
      expect(mod.json("decodeTarget", b)).toBeNull();
    }
    for (let i = 0; i < 500; i++) {
      const b = new Uint8Array(Math.floor(rand() * 80)).map(() => Math.floor(rand() * 256));
      const ts = decodeTarget(b);
      const as = mod.json<Json | null>("decodeTarget", b);
      expect(as === null).toBe(ts === null);
    }
  });

  it("names a target by model, version and cluster", () => {
    expect(mod.text("targetKeyOf", "org/m:1", "v1", "c@x/y")).toBe(targetKey("org/m:1", "v1", "c@x/y"));
    expect(targetKey("org/m:1", "v1", "c")).toBe("aigw/warmup-health/target/org/m:1/v1@c");
  });

  it("encodes and decodes leases as the TypeScript codec does", () => {
    for (let i = 0; i < 100; i++) {
      const l = { holder: BigInt(Math.floor(rand() * 2 ** 53)) + 1n, expires: BigInt(Math.floor(rand() * 2 ** 53)) };
      const bytes = mod.bytes("encodeLeaseOf", l.holder, l.expires);
      expect(Buffer.from(bytes).toString("hex")).toBe(Buffer.from(encodeLease(l)).toString("hex"));
      expect(decodeLease(bytes)).toEqual(l);
      expect(mod.json("decodeLeaseOf", encodeLease(l))).toEqual({ holder: String(l.holder), expires: String(l.expires) });
    }
    for (const b of [new Uint8Array(0), new Uint8Array(17), encodeLease({ holder: 1n, expires: 2n }).slice(0, 16), new Uint8Array([1, ...new Array(17).fill(1)])]) {
      expect(decodeLease(b)).toBeNull();
      expect(mod.json("decodeLeaseOf", b)).toBeNull();
    }
    expect(mod.text("leaseKeyOf", "0123456789abcdef")).toBe("aigw/warmup-health/lease/0123456789abcdef");
  });

  it("lets a root take a lease that is free, its own or expired, and no other", () => {
    const held = encodeLease({ holder: 7n, expires: 1000n });
    expect(mod.call("mayHoldLease", new Uint8Array(0), 9n, 0n)).toBe(1);
    expect(mod.call("mayHoldLease", held, 7n, 500n)).toBe(1);
    expect(mod.call("mayHoldLease", held, 9n, 999n)).toBe(0);
    expect(mod.call("mayHoldLease", held, 9n, 1000n)).toBe(1);
  });
});
