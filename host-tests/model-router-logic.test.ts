// model-router's pure logic through build/pure/model-router.wasm (host-tests/model-router/
// pure-entry.ts): configuration errors with their exact texts and the derived routing table,
// sticky buckets against a BigInt reference, version resolution, path templates, `name@version`,
// and the warmup-health record format against an independent TypeScript codec.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadPure, type PureModule } from "./pure/pure-module";
import { buildPureModule } from "./model-router/build";
import { stickyBucket } from "./model-router/bucket";
import { decodeHealthRecord, encodeHealthRecord, healthKey, type HealthRecord } from "./model-router/health-record";

let mod: PureModule;
beforeAll(async () => {
  await buildPureModule();
  mod = await loadPure("model-router");
  // Compiling takes a few seconds alone and far longer on a loaded machine: more than the 10 s default.
}, 180_000);
afterEach(() => {
  expect(mod.aborts).toEqual([]);
});

const BASE = {
  models: {
    llama: {
      versions: {
        v1: { cluster: "llama-v1", weight: 90 },
        v2: { cluster: "llama-v2", upstream_model: "meta-llama/Llama-3.1-8B", weight: 10 },
      },
      aliases: { stable: "v1", canary: "v2" },
    },
  },
};

type Json = Record<string, unknown>;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
/** BASE with `edit` applied. */
function variant(edit: (c: Json) => void): string {
  const c = clone(BASE) as Json;
  edit(c);
  return JSON.stringify(c);
}
const llama = (c: Json) => (c.models as Json).llama as Json;
const versions = (c: Json) => llama(c).versions as Json;

describe("model-router config", () => {
  describe("validate", () => {
    const CASES: Array<[string, string, string]> = [
      ["empty configuration", "", 'configuration: expected a JSON object with "models", got nothing'],
      ["not JSON", "{models", "configuration: expected JSON, got text that is not JSON at byte 1 (expected string key)"],
      ["not JSON deep inside, naming where", '{"models":{"llama":{"versions":{"v1":{"cluster":"c"}},"aliases":[}}}',
        "configuration: expected JSON, got text that is not JSON at byte 65 (expected value), in models.llama.aliases[0]"],
      ["a number beyond a double, named like any bad value", '{"models":{"llama":{"versions":{"v1":{"cluster":"c","weight":1e999}}}}}',
        "models.llama.versions.v1.weight: expected a number within a double's range, got 1e999"],
      ["not an object", "[]", "configuration: expected a JSON object, got []"],
      ["no models", "{}", "models: expected an object of 1..256 models by name, got nothing"],
      ["empty models", '{"models":{}}', "models: expected an object of 1..256 models by name, got {}"],
      ["unknown top-level key", variant((c) => (c.modles = {})),
        "modles: expected one of the keys models, sources, model_header, version_header, path_templates, max_body_bytes, max_json_depth, cluster_header, default_model, rewrite_body_model, sticky_key, sticky_header, tenant_header, tenant_hex_chars, anonymous_tenant, absent_state_ready, health_refresh_ms, retry_after_s, list_models_path, list_models_hide_not_ready, owned_by, model_headers, got an unknown key"],
      ["duplicate key", '{"models":{"a":{"versions":{"v1":{"cluster":"c"}}}},"models":{}}', "models: expected each key once, got it twice"],
      ["a refresh interval shorter than a tick may be", variant((c) => (c.health_refresh_ms = 50)),
        "health_refresh_ms: expected 0 (read on every request) or an integer 100..60000, got 50"],
      ["weight not an integer", variant((c) => ((versions(c).v2 as Json).weight = "x")),
        'models.llama.versions.v2.weight: expected an integer 0..100, got "x"'],
      ["weight out of range", variant((c) => ((versions(c).v2 as Json).weight = 101)),
        "models.llama.versions.v2.weight: expected an integer 0..100, got 101"],
      ["weight fractional", variant((c) => ((versions(c).v2 as Json).weight = 10.5)),
        "models.llama.versions.v2.weight: expected an integer 0..100, got 10.5"],
      ["weights not summing to 100", variant((c) => ((versions(c).v2 as Json).weight = 20)),
        "models.llama.versions: expected weights that sum to 100, got 110"],
      ["unknown version key", variant((c) => ((versions(c).v2 as Json).wieght = 1)),
        "models.llama.versions.v2.wieght: expected one of the keys cluster, upstream_model, weight, fallback, got an unknown key"],
      ["unknown model key", variant((c) => (llama(c).version = {})),
        "models.llama.version: expected one of the keys versions, aliases, owned_by, created, got an unknown key"],
      ["missing cluster", variant((c) => delete (versions(c).v1 as Json).cluster), "models.llama.versions.v1.cluster: expected a cluster name, got nothing"],
      ["empty cluster", variant((c) => ((versions(c).v1 as Json).cluster = "")),
        'models.llama.versions.v1.cluster: expected a cluster name: 1-255 visible ASCII characters, got ""'],
      ["no versions", variant((c) => delete llama(c).versions), "models.llama.versions: expected an object of 1..16 versions by name, got nothing"],
      ["bad model name", '{"models":{"a@b":{"versions":{"v1":{"cluster":"c"}}}}}',
        "models.a@b: expected a model name: 1-128 letters, digits, '.', '_', ':', '/', '-', starting with a letter or digit, got \"a@b\""],
      ["bad version name", '{"models":{"a":{"versions":{"v/1":{"cluster":"c"}}}}}',
        "models.a.versions.v/1: expected a version name: 1-64 letters, digits, '.', '_', '-', starting with a letter or digit, got \"v/1\""],
      ["alias to an unknown version", variant((c) => ((llama(c).aliases as Json).stable = "v9")),
        'models.llama.aliases.stable: expected the name of a version of "llama", got "v9"'],
      ["alias shadowing a version", variant((c) => ((llama(c).aliases as Json).v1 = "v2")),
        'models.llama.aliases.v1: expected an alias that is not also a version name, got "v1"'],
      ["fallback to itself", variant((c) => ((versions(c).v1 as Json).fallback = ["v1"])),
        'models.llama.versions.v1.fallback[0]: expected a list of other versions of "llama", each once, got "v1"'],
      ["fallback to an unknown version", variant((c) => ((versions(c).v1 as Json).fallback = ["v3"])),
        'models.llama.versions.v1.fallback[0]: expected a list of other versions of "llama", each once, got "v3"'],
      ["bad source", variant((c) => (c.sources = ["header", "query"])),
        'sources[1]: expected a non-empty list of distinct "header", "path", "body", got "query"'],
      ["repeated source", variant((c) => (c.sources = ["body", "body"])),
        'sources[1]: expected a non-empty list of distinct "header", "path", "body", got "body"'],
      ["bad template name", variant((c) => (c.path_templates = ["kserve"])),
        'path_templates[0]: expected "kserve_v2", "torchserve" or a template such as "/models/{model}/versions/{version}/run", got "kserve"'],
      ["template without {model}", variant((c) => (c.path_templates = ["/run/{version}"])),
        'path_templates[0]: expected a path starting with \'/\' whose segments hold at most one of {model}, {version}, {*}, with exactly one {model}, got "/run/{version}"'],
      ["bad header name", variant((c) => (c.model_header = "X-Model")),
        "model_header: expected a lower-case header name (letters, digits, '-', '_', '.'), got \"X-Model\""],
      ["input header that the filter sets", variant((c) => (c.model_header = "x-ai-model")),
        'model_header: expected a header the filter does not set (x-ai-cluster, x-ai-model, x-ai-model-version, x-ai-tenant), got "x-ai-model"'],
      ["cluster header that is also an input", variant((c) => (c.cluster_header = "x-model")),
        'cluster_header: expected a header that is not also model_header (x-model), got "x-model"'],
      ["input header that is the default cluster header", variant((c) => (c.version_header = "x-ai-cluster")),
        'version_header: expected a header the filter does not set (x-ai-cluster, x-ai-model, x-ai-model-version, x-ai-tenant), got "x-ai-cluster"'],
      ["cluster header clashing with an output", variant((c) => (c.cluster_header = "x-ai-tenant")),
        'cluster_header: expected a header other than x-ai-model, x-ai-model-version, x-ai-tenant, got "x-ai-tenant"'],
      ["unknown default model", variant((c) => (c.default_model = "gpt")), 'default_model: expected the name of a model in "models", got "gpt"'],
      ["bad sticky key", variant((c) => (c.sticky_key = "cookie")), 'sticky_key: expected "none", "tenant" or "header", got "cookie"'],
      ["sticky header missing", variant((c) => (c.sticky_key = "header")), "sticky_header: expected a header name when sticky_key is \"header\", got nothing"],
      ["sticky tenant without identity", variant((c) => { c.sticky_key = "tenant"; c.tenant_header = ""; }),
        'tenant_header: expected an identity header when sticky_key is "tenant", got ""'],
      ["max_body_bytes 0", variant((c) => (c.max_body_bytes = 0)), "max_body_bytes: expected an integer 1..67108864, got 0"],
      ["absent_state_ready not a bool", variant((c) => (c.absent_state_ready = "no")), 'absent_state_ready: expected true or false, got "no"'],
      ["hex-only anonymous tenant", variant((c) => (c.anonymous_tenant = "abc123")),
        "anonymous_tenant: expected \"\" or up to 64 letters, digits, '.', '_', '-' with at least one that is not a hex digit, got \"abc123\""],
      ["list path with a query", variant((c) => (c.list_models_path = "/v1/models?x")),
        "list_models_path: expected \"\" or a path starting with '/' without '?' or a trailing '/', got \"/v1/models?x\""],
      ["list path with a trailing slash", variant((c) => (c.list_models_path = "/v1/models/")),
        "list_models_path: expected \"\" or a path starting with '/' without '?' or a trailing '/', got \"/v1/models/\""],
      ["version header that is the model header", variant((c) => (c.version_header = "x-model")),
        'version_header: expected a header other than model_header (x-model), got "x-model"'],
      ["cluster header the request needs", variant((c) => (c.cluster_header = "host")),
        'cluster_header: expected a header that is not one of host, content-length, transfer-encoding, connection, upgrade, te, trailer, keep-alive, proxy-connection, content-type, content-encoding, expect, authorization, proxy-authorization, cookie, got "host"'],
      ["alias to an alias", variant((c) => ((llama(c).aliases as Json).newest = "canary")),
        'models.llama.aliases.newest: expected the name of a version of "llama", got "canary"'],
      ["long value shortened", variant((c) => ((versions(c).v2 as Json).weight = "x".repeat(100))),
        `models.llama.versions.v2.weight: expected an integer 0..100, got "${"x".repeat(59)}...`],
    ];

    it.each(CASES)("rejects %s with one message naming field, expectation and value", (_name, config, error) => {
      expect(mod.json("config", config)).toEqual({ error });
    });
  });

  describe("derive", () => {
    it("builds contiguous bucket ranges in config order, default fallbacks, aliases and built-in templates", () => {
      const table = mod.json<Json>("config", JSON.stringify(BASE));
      expect(table).toEqual({
        sources: ["header", "path", "body"],
        templates: [
          "/v2/models/{model}/versions/{version}/infer",
          "/v2/models/{model}/infer",
          "/v2/models/{model}/versions/{version}/ready",
          "/v2/models/{model}/ready",
          "/v2/models/{model}/versions/{version}",
          "/v2/models/{model}",
          "/predictions/{model}/{version}",
          "/predictions/{model}",
        ],
        default_model: -1,
        models: [
          {
            name: "llama",
            owned_by: "ai-gateway",
            created: 0,
            versions: [
              { name: "v1", cluster: "llama-v1", upstream_model: "", weight: 90, range_start: 0, range_end: 9000, fallback: ["v2"] },
              { name: "v2", cluster: "llama-v2", upstream_model: "meta-llama/Llama-3.1-8B", weight: 10, range_start: 9000, range_end: 10000, fallback: ["v1"] },
            ],
            aliases: { stable: "v1", canary: "v2" },
          },
        ],
      });
    });

    it("gives a single version all the weight, keeps explicit fallbacks and custom templates in order", () => {
      const table = mod.json<Json>(
        "config",
        JSON.stringify({
          sources: ["body", "header"],
          path_templates: ["/x/{model}", "torchserve"],
          default_model: "b",
          models: {
            a: { versions: { v1: { cluster: "a1", weight: 0, fallback: [] }, v2: { cluster: "a2", weight: 100 }, v3: { cluster: "a3", fallback: ["v2"] } } },
            b: { versions: { only: { cluster: "b" } }, owned_by: "team-b", created: 1700000000 },
          },
        }),
      );
      const models = table.models as Json[];
      expect(table.sources).toEqual(["body", "header"]);
      expect(table.templates).toEqual(["/x/{model}", "/predictions/{model}/{version}", "/predictions/{model}"]);
      expect(table.default_model).toBe(1);
      expect((models[0].versions as Json[]).map((v) => [v.name, v.range_start, v.range_end, v.fallback])).toEqual([
        ["v1", 0, 0, []],
        ["v2", 0, 10000, ["v1", "v3"]],
        ["v3", 10000, 10000, ["v2"]],
      ]);
      expect(models[1]).toMatchObject({ name: "b", owned_by: "team-b", created: 1700000000, versions: [{ name: "only", weight: 100, range_end: 10000 }] });
    });
  });
});

describe("model-router sticky bucket", () => {
  it("equals the reference FNV-1a + SplitMix64 definition", () => {
    const keys = ["", "a", "user-1", "user-2", "ключ", "😀 emoji", "x".repeat(300)];
    for (let i = 0; i < 200; i++) keys.push(`key-${i * 7919}`);
    for (const model of ["llama", "meta-llama/Llama-3.1-8B"]) {
      for (const key of keys) expect([model, key, mod.call("bucket", model, key)]).toEqual([model, key, stickyBucket(model, key)]);
    }
  });

  it("spreads 10,000 distinct keys evenly over the buckets", () => {
    const perDecile = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) perDecile[Math.floor((mod.call("bucket", "llama", `user-${i}`) as number) / 1000)]++;
    for (const n of perDecile) expect(Math.abs(n - 1000)).toBeLessThan(100);
  });
});

describe("model-router resolve", () => {
  const config = JSON.stringify({
    models: {
      llama: {
        versions: {
          v1: { cluster: "c1", weight: 90, fallback: ["v3"] },
          v2: { cluster: "c2", weight: 10, fallback: ["v1"] },
          v3: { cluster: "c3", weight: 0, fallback: [] },
        },
        aliases: { stable: "v1", canary: "v2", latest: "v3" },
      },
    },
  });
  const R = (ready: boolean, ramp = 10_000) => [ready ? 1 : 0, ramp & 0xff, ramp >> 8];
  const ALL = [R(true), R(true), R(true)];
  const OK = 0;
  const UNKNOWN = 1;
  const NONE = 2;

  const CASES: Array<[string, string, number, number[][], { status: number; version: string; picked: string }]> = [
    ["bucket 0 lands on the first range", "", 0, ALL, { status: OK, version: "v1", picked: "v1" }],
    ["bucket 8999 is v1's last", "", 8999, ALL, { status: OK, version: "v1", picked: "v1" }],
    ["bucket 9000 is v2's first", "", 9000, ALL, { status: OK, version: "v2", picked: "v2" }],
    ["an explicit version wins over the split", "v3", 0, ALL, { status: OK, version: "v3", picked: "v3" }],
    ["an alias names a version", "canary", 0, ALL, { status: OK, version: "v2", picked: "v2" }],
    ["an unknown version", "v9", 0, ALL, { status: UNKNOWN, version: "", picked: "" }],
    ["a version that is not ready falls back", "", 9500, [R(true), R(false), R(true)], { status: OK, version: "v1", picked: "v2" }],
    ["an explicit version that is not ready falls back too", "v2", 0, [R(true), R(false), R(true)], { status: OK, version: "v1", picked: "v2" }],
    ["the fallback list is walked in order", "", 0, [R(false), R(true), R(true)], { status: OK, version: "v3", picked: "v1" }],
    ["no ready fallback", "", 9500, [R(false), R(false), R(true)], { status: NONE, version: "", picked: "v2" }],
    ["an empty fallback list", "latest", 0, [R(true), R(true), R(false)], { status: NONE, version: "", picked: "v3" }],
    ["a ramping version keeps the start of its range", "", 9499, [R(true), R(true, 5000), R(true)], { status: OK, version: "v2", picked: "v2" }],
    ["and gives the rest to its fallback", "", 9500, [R(true), R(true, 5000), R(true)], { status: OK, version: "v1", picked: "v2" }],
    ["ramp 0 sends the whole range to the fallback", "", 9000, [R(true), R(true, 0), R(true)], { status: OK, version: "v1", picked: "v2" }],
    ["a ramping version with no ready fallback keeps its whole range", "", 9500, [R(false), R(true, 5000), R(true)], { status: OK, version: "v2", picked: "v2" }],
    ["even at ramp 0", "", 0, [R(true, 0), R(true), R(false)], { status: OK, version: "v1", picked: "v1" }],
    ["an explicit version ignores its ramp", "v2", 0, [R(true), R(true, 0), R(true)], { status: OK, version: "v2", picked: "v2" }],
    ["a ramping fallback target still serves", "", 0, [R(false), R(true), R(true, 1)], { status: OK, version: "v3", picked: "v1" }],
  ];

  it.each(CASES)("%s", (_name, requested, bucket, readiness, want) => {
    expect(mod.json("resolve", config, "llama", requested, bucket, new Uint8Array(readiness.flat()))).toEqual(want);
  });

  it("moves only v1's buckets when v2 grows from 10 to 20 percent", () => {
    const split = (w1: number, w2: number) =>
      JSON.stringify({ models: { m: { versions: { v1: { cluster: "a", weight: w1 }, v2: { cluster: "b", weight: w2 } } } } });
    const ready = new Uint8Array([R(true), R(true)].flat());
    for (let b = 0; b < 10_000; b += 7) {
      const before = mod.json<{ version: string }>("resolve", split(90, 10), "m", "", b, ready).version;
      const after = mod.json<{ version: string }>("resolve", split(80, 20), "m", "", b, ready).version;
      if (before !== after) expect([b, before, after]).toEqual([b, "v1", "v2"]);
    }
  });
});

describe("model-router path templates", () => {
  const CASES: Array<[string, string, { model: string; version: string } | null]> = [
    ["/v2/models/{model}/infer", "/v2/models/llama/infer", { model: "llama", version: "" }],
    ["/v2/models/{model}/infer", "/v2/models/llama/infer?x=1", { model: "llama", version: "" }],
    ["/v2/models/{model}/infer", "/v2/models/llama/versions/v2/infer", null],
    ["/v2/models/{model}/infer", "/v2/models//infer", null],
    ["/v2/models/{model}/infer", "/v2/models/llama/infer/", null],
    ["/v2/models/{model}/infer", "/v2/models/llama", null],
    ["/v2/models/{model}/versions/{version}/infer", "/v2/models/llama/versions/v2/infer", { model: "llama", version: "v2" }],
    ["/predictions/{model}/{version}", "/predictions/resnet/2.0", { model: "resnet", version: "2.0" }],
    ["/predictions/{model}", "/predictions/resnet", { model: "resnet", version: "" }],
    ["/v1/models/{model}:predict", "/v1/models/iris:predict", { model: "iris", version: "" }],
    ["/v1/models/{model}:predict", "/v1/models/:predict", null],
    ["/v1/models/{model}:predict", "/v1/models/iris:explain", null],
    ["/{*}/models/{model}", "/tenant-a/models/x", { model: "x", version: "" }],
    ["/a/{model}", "a/x", null],
    ["/a/{model}", "", null],
  ];

  it.each(CASES)("%s matches %s as %j", (template, path, want) => {
    expect(mod.json("matchPath", template, path)).toEqual(want);
  });

  it.each(["", "v2/{model}", "/a/{model}/{model}", "/a/{model}{version}", "/a/{name}", "/a//{model}", "/a/{model}?q", "/a/{version}"])(
    "refuses the template %j",
    (template) => {
      expect(mod.json<Json>("matchPath", template, "/a/b")).toHaveProperty("error");
    },
  );
});

describe("model-router model references", () => {
  it.each([
    ["llama", { name: "llama", version: "" }],
    ["llama@v2", { name: "llama", version: "v2" }],
    ["org/model@v1", { name: "org/model", version: "v1" }],
    ["org/model@v1@canary", null], // no name has an @: malformed, not model "org/model@v1"
    ["@v2", null],
    ["llama@", null],
    ["", null],
    ["x".repeat(513), null],
  ])("parses %j as %j", (ref, want) => {
    expect(mod.json("modelRef", ref)).toEqual(want);
  });
});

describe("warmup-health record", () => {
  const RECORDS: HealthRecord[] = [
    { state: "ready", sinceMs: 1_700_000_000_123n, rampPermyriad: 10_000, reason: "" },
    { state: "warming", sinceMs: 0n, rampPermyriad: 2500, reason: "warmup 3/10 requests" },
    { state: "failing", sinceMs: 2n ** 63n + 5n, rampPermyriad: 0, reason: "readiness 503 ✗ «Loading model»" },
    { state: "loading", sinceMs: 1n, rampPermyriad: 1, reason: "r".repeat(1024) },
    { state: "unknown", sinceMs: 42n, rampPermyriad: 9999, reason: "" },
    { state: "ready", sinceMs: 7n, rampPermyriad: 5000, reason: "renewed", freshUntilMs: 1_767_225_610_500n },
    { state: "failing", sinceMs: 7n, rampPermyriad: 0, reason: "", freshUntilMs: 2n ** 64n - 1n },
  ];

  it("encodes the documented layout, byte for byte", () => {
    for (const r of RECORDS) {
      const states = ["unknown", "loading", "warming", "ready", "failing"];
      const bytes = mod.bytes("encodeHealthUntil", states.indexOf(r.state), r.sinceMs, r.rampPermyriad, r.reason, r.freshUntilMs ?? 0n);
      expect(Buffer.from(bytes).toString("hex")).toBe(Buffer.from(encodeHealthRecord(r)).toString("hex"));
    }
  });

  it("decodes what the TypeScript codec wrote, and round-trips", () => {
    for (const r of RECORDS) {
      const got = mod.json<Json>("decodeHealth", encodeHealthRecord(r));
      expect(got).toEqual({
        state: ["unknown", "loading", "warming", "ready", "failing"].indexOf(r.state),
        state_name: r.state,
        since_ms: r.sinceMs.toString(),
        ramp_permyriad: r.rampPermyriad,
        ramp: r.rampPermyriad / 10_000,
        reason: r.reason,
        fresh_until_ms: (r.freshUntilMs ?? 0n).toString(),
      });
      expect(decodeHealthRecord(mod.bytes("encodeHealthUntil", got.state as number, r.sinceMs, r.rampPermyriad, r.reason, r.freshUntilMs ?? 0n))).toEqual(r);
    }
  });

  it("cuts an over-long reason at a character boundary", () => {
    const reason = "é".repeat(600); // 1200 bytes
    const decoded = decodeHealthRecord(mod.bytes("encodeHealth", 3, 0n, 10_000, reason));
    expect(decoded?.reason).toBe("é".repeat(512));
  });

  const good = encodeHealthRecord({ state: "ready", sinceMs: 5n, rampPermyriad: 10_000, reason: "ok" });
  const patch = (at: number, values: number[]) => {
    const b = good.slice();
    b.set(values, at);
    return b;
  };
  it.each<[string, Uint8Array]>([
    ["empty", new Uint8Array(0)],
    ["short", good.subarray(0, 13)],
    ["format 0", patch(0, [0])],
    ["state 5", patch(1, [5])],
    ["ramp 10001", patch(2, [0x11, 0x27])],
    ["reason past the end", patch(12, [3, 0])],
    ["format 2 with trailing bytes", new Uint8Array([...good, 0])],
    ["format 2 without its deadline", good.subarray(0, good.length - 1)],
    ["format 1 with trailing bytes", patch(0, [1])],
    ["format 3 without a deadline", patch(0, [3]).subarray(0, good.length - 8)],
  ])("decodes a malformed record (%s) as null, like the reference", (_name, bytes) => {
    expect(mod.json("decodeHealth", bytes)).toBeNull();
    expect(decodeHealthRecord(bytes)).toBeNull();
  });

  it("accepts a later format with appended fields", () => {
    const later = new Uint8Array([...patch(0, [3]), 9, 9, 9]);
    expect(mod.json<Json>("decodeHealth", later)).toMatchObject({ state_name: "ready", reason: "ok", fresh_until_ms: "0" });
    expect(decodeHealthRecord(later)).toEqual({ state: "ready", sinceMs: 5n, rampPermyriad: 10_000, reason: "ok" });
  });

  it("reads format 1 (no deadline) as standing for ever", () => {
    const one = patch(0, [1]).subarray(0, good.length - 8);
    expect(mod.json<Json>("decodeHealth", one)).toMatchObject({ state_name: "ready", reason: "ok", fresh_until_ms: "0" });
    expect(decodeHealthRecord(one)).toEqual({ state: "ready", sinceMs: 5n, rampPermyriad: 10_000, reason: "ok" });
  });

  it("keys records by model and version", () => {
    expect(mod.text("healthKeyOf", "meta-llama/Llama-3", "v1")).toBe("aigw/warmup-health/state/meta-llama/Llama-3/v1");
    expect(healthKey("meta-llama/Llama-3", "v1")).toBe("aigw/warmup-health/state/meta-llama/Llama-3/v1");
  });
});

describe("model-router docs", () => {
  const root = path.resolve(__dirname, "..");
  const read = (f: string) => readFileSync(path.join(root, f), "utf8");
  const example = read("plugins/model-router/config.example.json");
  const readme = read("plugins/model-router/README.md");

  it("README's full example equals config.example.json", () => {
    const section = readme.slice(readme.indexOf("### Full example"));
    const block = /```json\n([\s\S]*?)```/.exec(section)?.[1];
    expect(block).toBe(example);
  });

  it("config.example.json is a valid configuration, and the Envoy example envoy/envoy.yaml carries it", () => {
    expect(mod.json<Json>("config", example)).not.toHaveProperty("error");
    const yaml = read("envoy/envoy.yaml");
    // The model-router entry's configuration (other filters' entries come before and after it).
    const router = yaml.slice(yaml.indexOf("root_id: model-router"));
    const m = /value: \|\n((?: {20}.*\n)+)/.exec(router);
    expect(m).not.toBeNull();
    const embedded = m![1].split("\n").map((l) => l.slice(20)).join("\n");
    expect(JSON.parse(embedded)).toEqual(JSON.parse(example));
  });

  it("documents every configuration key the filter accepts, and no other", () => {
    const tables = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("### Full example"));
    const documented = [...tables.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    const accepted = (config: string) => {
      const error = mod.json<{ error: string }>("config", config).error;
      return /expected one of the keys (.*), got an unknown key/.exec(error)![1].split(", ");
    };
    const top = accepted('{"zz":1}');
    const model = accepted('{"models":{"m":{"zz":1}}}');
    const version = accepted('{"models":{"m":{"versions":{"v":{"zz":1}}}}}');
    expect(new Set(documented)).toEqual(new Set([...top, ...model, ...version]));
  });
});
