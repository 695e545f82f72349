// inference-cache's pure logic through build/pure/inference-cache.wasm (host-tests/inference-cache/
// pure-entry.ts): configuration errors with their exact texts and the derived values, the key
// (acceptance table, layout, and a differential test against the independent TypeScript
// reference in host-tests/inference-cache/reference.ts on 10,000 random documents), the request
// and response policy tables, the cache record against a TypeScript codec (both directions, and
// garbage), and the SSE reader and conversions (every split position, CRLF, malformed input).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildPureModule } from "./inference-cache/build";
import { equivalentBody, int, pick, randomBody, randomString, type Rand } from "./inference-cache/random";
import {
  canonicalBodyRef, decodeEntryRef, encodeEntryRef, type EntryRef, keyPreimage, keyRef, type KeyRequestRef,
  type KeyRulesRef, parseRef, parseSseRef, redisKeyRef, slotKeyRef, slotOfRef,
} from "./inference-cache/reference";
import { loadPure, type PureModule } from "./pure/pure-module";
import { prng } from "./support-prng";

let mod: PureModule;
beforeAll(async () => {
  await buildPureModule();
  mod = await loadPure("inference-cache");
  // Compiling takes a few seconds alone and far longer on a loaded machine.
}, 180_000);
afterEach(() => {
  expect(mod.aborts).toEqual([]);
  mod.call("collect");
});

type Json = Record<string, unknown>;
const ROOT = path.resolve(__dirname, "..");
const read = (f: string) => readFileSync(path.join(ROOT, f), "utf8");
const enc = (s: string) => new TextEncoder().encode(s);
const hexKey = (seed: string) => createHash("sha256").update(seed).digest("hex");

const DEFAULT_DROP = ["user", "metadata", "stream_options", "request_id", "safety_identifier", "prompt_cache_key"];
const DEFAULT_DEFAULTS: Record<string, string> = { temperature: "1", top_p: "1", n: "1", presence_penalty: "0", frequency_penalty: "0" };
const DEFAULT_RULES: KeyRulesRef = { drop: DEFAULT_DROP, defaults: DEFAULT_DEFAULTS };

function setConfig(config: unknown): Json {
  return mod.json<Json>("setConfig", typeof config === "string" ? config : JSON.stringify(config));
}

// ---------------------------------------------------------------------------------------------

describe("inference-cache config", () => {
  describe("validate", () => {
    const CASES: Array<[string, string, string]> = [
      ["not JSON", "{slots", "configuration: expected JSON, got text that is not JSON at byte 1 (expected string key)"],
      ["not an object", "[]", "configuration: expected a JSON object, got []"],
      ["unknown top-level key", '{"slot":1}',
        "slot: expected one of the keys slots, max_entry_bytes, ttl_ms, max_body_bytes, max_json_depth, key_only, vary_on_tenant, tenant_header, drop_fields, defaults, models, shared_tier, got an unknown key"],
      ["duplicate key", '{"slots":1,"slots":2}', "slots: expected each key once, got it twice"],
      ["slots 0", '{"slots":0}', "slots: expected an integer 1..65536, got 0"],
      ["slots fractional", '{"slots":1.5}', "slots: expected an integer 1..65536, got 1.5"],
      ["max_entry_bytes too small", '{"max_entry_bytes":100}', "max_entry_bytes: expected an integer 4096..16777216, got 100"],
      ["table over 1 GiB", '{"slots":65536,"max_entry_bytes":262144}',
        "max_entry_bytes: expected slots × max_entry_bytes at most 1073741824 bytes of shared data, got 65536 × 262144"],
      ["ttl_ms under a second", '{"ttl_ms":999}', "ttl_ms: expected an integer 1000..604800000, got 999"],
      ["max_body_bytes a string", '{"max_body_bytes":"1MB"}', 'max_body_bytes: expected an integer 1..67108864, got "1MB"'],
      ["max_json_depth 0", '{"max_json_depth":0}', "max_json_depth: expected an integer 1..1024, got 0"],
      ["key_only not a boolean", '{"key_only":1}', "key_only: expected true or false, got 1"],
      ["drop_fields not a list", '{"drop_fields":"user"}', 'drop_fields: expected a list of up to 32 distinct field names, got "user"'],
      ["drop_fields bad name", '{"drop_fields":["user","a b"]}', "drop_fields[1]: expected a field name: 1-64 letters, digits, '_', '-', '.', got \"a b\""],
      ["drop_fields stream", '{"drop_fields":["stream"]}', 'drop_fields[0]: expected a field other than "stream" (always left out of the key), got "stream"'],
      ["drop_fields twice", '{"drop_fields":["user","user"]}', 'drop_fields[1]: expected each field once, got "user"'],
      ["defaults not an object", '{"defaults":[]}', "defaults: expected an object of up to 32 field names to their default values, got []"],
      ["defaults of a dropped field", '{"defaults":{"user":"x"}}', 'defaults.user: expected a field that drop_fields does not drop, got "user"'],
      ["defaults of stream", '{"defaults":{"stream":false}}', 'defaults.stream: expected a field other than "stream" (always left out of the key), got "stream"'],
      ["defaults bad name", '{"defaults":{"tëmp":1}}', "defaults.tëmp: expected a field name: 1-64 letters, digits, '_', '-', '.', got \"tëmp\""],
      ["defaults twice", '{"defaults":{"n":1,"n":2}}', "defaults.n: expected each key once, got it twice"],
      ["models not an object", '{"models":[]}', "models: expected an object of up to 256 models by name, got []"],
      ["bad model name", '{"models":{"a@b":{}}}',
        "models.a@b: expected a model name: 1-128 letters, digits, '.', '_', ':', '/', '-', starting with a letter or digit, got \"a@b\""],
      ["model not an object", '{"models":{"llama":true}}', "models.llama: expected an object with any of shared, cache_nondeterministic, ttl_ms, got true"],
      ["unknown model key", '{"models":{"llama":{"share":true}}}',
        "models.llama.share: expected one of the keys shared, cache_nondeterministic, ttl_ms, got an unknown key"],
      ["model ttl_ms", '{"models":{"llama":{"ttl_ms":0}}}', "models.llama.ttl_ms: expected an integer 1000..604800000, got 0"],
      ["shared_tier not an object", '{"shared_tier":"webdis"}', 'shared_tier: expected an object with "cluster", got "webdis"'],
      ["shared_tier without cluster", '{"shared_tier":{}}', "shared_tier.cluster: expected the Envoy cluster of Webdis, got nothing"],
      ["shared_tier empty cluster", '{"shared_tier":{"cluster":""}}', 'shared_tier.cluster: expected a cluster name: 1-255 visible ASCII characters, got ""'],
      ["shared_tier unknown key", '{"shared_tier":{"cluster":"w","ttl_ms":1}}',
        "shared_tier.ttl_ms: expected one of the keys enabled, cluster, timeout_ms, key_prefix, got an unknown key"],
      ["shared_tier timeout", '{"shared_tier":{"cluster":"w","timeout_ms":0}}', "shared_tier.timeout_ms: expected an integer 1..10000, got 0"],
      ["shared_tier key_prefix", '{"shared_tier":{"cluster":"w","key_prefix":"a/b"}}',
        "shared_tier.key_prefix: expected up to 64 letters, digits, ':', '_', '-', '.', got \"a/b\""],
    ];
    it.each(CASES)("rejects %s", (_name, config, error) => {
      expect(setConfig(config)).toEqual({ error });
    });
  });

  describe("derive", () => {
    const DEFAULTS = {
      slots: 1024, max_entry_bytes: 262144, ttl_ms: 300000, max_body_bytes: 1048576, max_json_depth: 64,
      key_only: false, vary_on_tenant: true, drop_fields: DEFAULT_DROP,
      // sorted by name, values in RFC 8785 form
      defaults: [["frequency_penalty", "0"], ["n", "1"], ["presence_penalty", "0"], ["temperature", "1"], ["top_p", "1"]],
      models: {}, other_models: { shared: false, cache_nondeterministic: false, ttl_ms: 300000 }, shared_tier: null,
    };

    it.each(["", "  \n", "{}"])("gives every field its default for %j", (config) => {
      expect(setConfig(config)).toEqual(DEFAULTS);
    });

    it("derives models, defaults and the shared tier", () => {
      expect(setConfig({
        ttl_ms: 60000,
        drop_fields: [],
        defaults: { top_p: 1.0, temperature: 0e0, "a.b": { y: [1, 2], x: null } },
        models: { llama: { shared: true }, "org/m:1": { cache_nondeterministic: true, ttl_ms: 5000 } },
        shared_tier: { cluster: "webdis" },
      })).toEqual({
        ...DEFAULTS, ttl_ms: 60000, drop_fields: [],
        defaults: [["a.b", '{"x":null,"y":[1,2]}'], ["temperature", "0"], ["top_p", "1"]],
        models: {
          llama: { shared: true, cache_nondeterministic: false, ttl_ms: 60000 },
          "org/m:1": { shared: false, cache_nondeterministic: true, ttl_ms: 5000 },
        },
        other_models: { shared: false, cache_nondeterministic: false, ttl_ms: 60000 },
        shared_tier: { cluster: "webdis", timeout_ms: 200, key_prefix: "aigw:cache:" },
      });
    });

    it("shares every model's entries when vary_on_tenant is off, and leaves a disabled shared tier out", () => {
      const got = setConfig({ vary_on_tenant: false, models: { llama: {} }, shared_tier: { cluster: "w", enabled: false } });
      expect(got).toMatchObject({
        models: { llama: { shared: true } }, other_models: { shared: true }, shared_tier: null,
      });
    });

    it("accepts the largest table (1 GiB)", () => {
      expect(setConfig({ slots: 4096, max_entry_bytes: 262144 })).not.toHaveProperty("error");
    });
  });

  describe("docs", () => {
    const example = read("plugins/inference-cache/config.example.json");
    const readme = read("plugins/inference-cache/README.md");

    it("README's full example equals config.example.json", () => {
      const section = readme.slice(readme.indexOf("### Full example"));
      const block = /```json\n([\s\S]*?)```/.exec(section)?.[1];
      expect(block).toBe(example);
    });

    it("config.example.json is a valid configuration", () => {
      expect(setConfig(example)).not.toHaveProperty("error");
    });

    it("documents every configuration key the filter accepts, and no other", () => {
      const tables = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("### Full example"));
      const documented = [...tables.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
      const accepted = (config: string) => {
        const error = setConfig(config).error as string;
        return /expected one of the keys (.*), got an unknown key/.exec(error)![1].split(", ");
      };
      const top = accepted('{"zz":1}');
      const model = accepted('{"models":{"m":{"zz":1}}}');
      const tier = accepted('{"shared_tier":{"zz":1}}');
      expect(documented.sort()).toEqual([...top, ...model, ...tier].sort());
    });

    it("lists every reason in the README's reason table, in the code's order", () => {
      const rows = [...readme.matchAll(/^\| `([a-z-]+)` \| (HIT|MISS|BYPASS|REFRESH)/gm)].map((m) => [m[1], m[2]]);
      const table = mod.json<Array<[string, string]>>("reasons").slice(1);
      expect(rows).toEqual(table);
    });
  });
});

// ---------------------------------------------------------------------------------------------

interface KeyCall extends Partial<KeyRequestRef> {
  body: string;
}
const REQ: KeyRequestRef = { method: "POST", authority: "gateway.example", path: "/v1/chat/completions", model: "llama", version: "v1", tenant: "c3e9a1c985d603e4", shared: false };
type KeyResult = { ok: true; hex: string; canonical: string | null } | { ok: false; error: string };
function keyOf(c: KeyCall): KeyResult {
  const r = { ...REQ, ...c };
  return mod.json<KeyResult>("key", r.body, r.method, r.path, r.model, r.version, r.tenant, r.shared ? 1 : 0, r.authority);
}
function hexOf(c: KeyCall): string {
  const r = keyOf(c);
  if (!r.ok) throw new Error(`no key for ${c.body}: ${r.error}`);
  return r.hex;
}

describe("inference-cache key", () => {
  beforeAll(() => {
    expect(setConfig({})).not.toHaveProperty("error");
  });

  const BASE = '{"model":"llama","messages":[{"role":"user","content":"Hi"}],"temperature":0,"max_tokens":100}';

  describe("acceptance", () => {
    // Each group: requests that must share one key.
    const SAME: Array<[string, KeyCall[]]> = [
      ["a host's ports and letter case", [{ body: BASE, authority: "gateway.example" }, { body: BASE, authority: "Gateway.Example:8080" }, { body: BASE, authority: "GATEWAY.EXAMPLE:443" }]],
      ["an IPv6 literal's ports", [{ body: BASE, authority: "[::1]" }, { body: BASE, authority: "[::1]:80" }, { body: BASE, authority: "[::1]:10000" }]],
      ["key order and whitespace", [
        { body: BASE },
        { body: '{"max_tokens":100,"temperature":0,"messages":[{"content":"Hi","role":"user"}],"model":"llama"}' },
        { body: '{\n  "model": "llama",\r\n  "messages": [ { "role" : "user", "content" : "Hi" } ],\t"temperature": 0, "max_tokens": 100\n}\n' },
      ]],
      ["number spelling", [
        { body: BASE },
        { body: BASE.replace('"temperature":0', '"temperature":0.0').replace("100", "1e2") },
        { body: BASE.replace('"temperature":0', '"temperature":-0').replace("100", "100.0") },
        { body: BASE.replace('"temperature":0', '"temperature":0e5').replace("100", "1.00E+2") },
        { body: BASE.replace("100", "1000e-1") },
      ]],
      ["string escapes", [
        { body: BASE },
        { body: BASE.replace('"Hi"', '"\\u0048i"') },
        { body: BASE.replace('"Hi"', '"H\\u0069"').replace('"model"', '"\\u006dodel"') },
      ]],
      ["dropped fields", [
        { body: BASE },
        { body: BASE.replace("{", '{"user":"u-1","metadata":{"a":"b"},') },
        { body: BASE.replace("{", '{"stream_options":{"include_usage":true},"request_id":"r-9",') },
        { body: BASE.replace("{", '{"safety_identifier":"s","prompt_cache_key":"k","user":null,') },
      ]],
      ["stream true and false", [
        { body: BASE },
        { body: BASE.replace("{", '{"stream":true,') },
        { body: BASE.replace("{", '{"stream":false,') },
      ]],
      ["explicit defaults", [
        { body: '{"model":"llama","messages":[],"seed":7}' },
        { body: '{"model":"llama","messages":[],"seed":7,"temperature":1}' },
        { body: '{"model":"llama","messages":[],"seed":7,"temperature":1.0,"top_p":1e0,"n":1}' },
        { body: '{"presence_penalty":0,"frequency_penalty":-0.0,"model":"llama","messages":[],"seed":7}' },
      ]],
      ["tenants of a shared model", [
        { body: BASE, shared: true, tenant: "t1" },
        { body: BASE, shared: true, tenant: "t2" },
        { body: BASE, shared: true, tenant: "" },
      ]],
    ];
    it.each(SAME)("shares a key: %s", (_name, calls) => {
      const keys = calls.map(hexOf);
      for (const k of keys) expect(k).toBe(keys[0]);
    });

    // Each pair: requests that must not share a key.
    const DIFFERENT: Array<[string, KeyCall, KeyCall]> = [
      ["resolved model", { body: BASE }, { body: BASE, model: "mistral" }],
      ["version", { body: BASE }, { body: BASE, version: "v2" }],
      ["body model", { body: BASE }, { body: BASE.replace('"llama"', '"llama@v1"') }],
      ["message content", { body: BASE }, { body: BASE.replace('"Hi"', '"Hi!"') }],
      ["message role", { body: BASE }, { body: BASE.replace('"user"', '"system"') }],
      ["message order", { body: '{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}' },
        { body: '{"messages":[{"role":"user","content":"b"},{"role":"user","content":"a"}]}' }],
      ["temperature", { body: BASE }, { body: BASE.replace('"temperature":0', '"temperature":0.2') }],
      ["temperature absent (default 1) and 0", { body: BASE }, { body: BASE.replace(',"temperature":0', "") }],
      ["tools added", { body: BASE }, { body: BASE.replace("{", '{"tools":[{"type":"function","function":{"name":"f"}}],') }],
      ["tools changed", { body: BASE.replace("{", '{"tools":[{"type":"function","function":{"name":"f"}}],') },
        { body: BASE.replace("{", '{"tools":[{"type":"function","function":{"name":"g"}}],') }],
      ["tenant", { body: BASE }, { body: BASE, tenant: "0000000000000000" }],
      ["tenant and shared", { body: BASE }, { body: BASE, shared: true }],
      ["no tenant and shared", { body: BASE, tenant: "" }, { body: BASE, tenant: "", shared: true }],
      ["method", { body: BASE }, { body: BASE, method: "PUT" }],
      ["path", { body: BASE }, { body: BASE, path: "/v1/completions" }],
      ["query", { body: BASE }, { body: BASE, path: "/v1/chat/completions?api-version=2" }],
      ["max_tokens", { body: BASE }, { body: BASE.replace("100", "101") }],
      ["explicit null is not the default", { body: BASE }, { body: BASE.replace("{", '{"top_p":null,') }],
      ["a default's other value", { body: BASE }, { body: BASE.replace("{", '{"n":2,') }],
      ["duplicate members", { body: '{"a":2}' }, { body: '{"a":1,"a":2}' }],
      ["a dropped name nested", { body: BASE }, { body: BASE.replace('"role":"user"', '"role":"user","user":"u"') }],
      ["no body and {}", { body: "" }, { body: "{}" }],
      ["array and object", { body: "[]" }, { body: "{}" }],
      ["string and number", { body: '"1"' }, { body: "1" }],
      ["field boundaries (model and version)", { body: BASE, model: "ab", version: "c" }, { body: BASE, model: "a", version: "bc" }],
      ["field boundaries (tenant and method)", { body: BASE, tenant: "tP", method: "OST" }, { body: BASE, tenant: "t", method: "POST" }],
      ["hosts", { body: BASE, authority: "a.test" }, { body: BASE, authority: "b.test" }],
      ["an IPv6 literal and a name", { body: BASE, authority: "[::1]:80" }, { body: BASE, authority: "::1" }],
    ];
    it.each(DIFFERENT)("separates: %s", (_name, a, b) => {
      expect(hexOf(a)).not.toBe(hexOf(b));
    });
  });

  describe("layout", () => {
    it("hashes the documented preimage with SHA-256 (node:crypto)", () => {
      const cases: KeyCall[] = [
        { body: BASE }, { body: "" }, { body: BASE, shared: true }, { body: "[1, 2.50]" },
        { body: '{"é":"😀","stream":true}', method: "PÖST", path: "/ü?x=ÿ", model: "m/ö", version: "v€", tenant: "ténant" },
        { body: BASE, authority: "Mixed.Case:8443" }, { body: BASE, authority: "[FE80::1]:80" }, { body: BASE, authority: "" }, { body: BASE, authority: ":80" },
        { body: BASE, authority: "bücher.example:1" }, { body: BASE, authority: "h:" }, { body: BASE, authority: "1234" },
      ];
      for (const c of cases) {
        const r = { ...REQ, ...c };
        const preimage = keyPreimage(r, c.body === "" ? null : c.body, DEFAULT_RULES);
        expect(hexOf(c)).toBe(createHash("sha256").update(preimage).digest("hex"));
      }
    });

    it("hashes preimages that share whole blocks with earlier ones like node:crypto", () => {
      // The VM skips the whole blocks a preimage shares with the last one of its partition:
      // change one byte in each block of preimages up to past the 4 KiB it keeps, lengthen and
      // shorten them, across tenants and shared ones, in an order that reuses every run.
      const text = (n: number, at: number, ch: string) => {
        const s = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(Math.ceil(n / 36) + 1).slice(0, n);
        return at < 0 ? s : s.slice(0, at) + ch + s.slice(at + 1);
      };
      const cases: KeyCall[] = [];
      for (const n of [20, 40, 100, 500, 4200, 4400, 9000]) {
        for (const at of [-1, 0, 30, 63, 64, 130, 1000, 4090, 4100, 8000, n - 1]) {
          if (at >= n) continue;
          for (const c of [{ tenant: "c3e9a1c985d603e4" }, { tenant: "another-tenant00" }, { shared: true }]) {
            cases.push({ body: `{"content":"${text(n, at, "!")}","temperature":0}`, ...c });
          }
        }
      }
      for (const c of [...cases, ...cases.slice().reverse()]) {
        const preimage = keyPreimage({ ...REQ, ...c }, c.body!, DEFAULT_RULES);
        expect({ c, hex: hexOf(c) }).toEqual({ c, hex: createHash("sha256").update(preimage).digest("hex") });
      }
    });

    it("writes the canonical body: drops, stream, defaults, RFC 8785 order and forms", () => {
      const r = keyOf({ body: '{"stream":true,"z":1.50,"user":"u","é":[1E2,"\\u00e9"],"a":{"b":1,"a":2},"n":3,"😀":0,"\ue000":0}' });
      expect(r).toMatchObject({
        ok: true,
        canonical: '{"a":{"a":2,"b":1},"frequency_penalty":0,"n":3,"presence_penalty":0,"temperature":1,"top_p":1,"z":1.5,"é":[100,"é"],"😀":0,"\ue000":0}',
      });
    });

    it("keeps a member whose name only looks like a dropped field, a default or stream (same length, first and last character)", () => {
      const r = keyOf({ body: '{"uber":1,"user":"u","tap_p":2,"strEam":true,"stream":true}' });
      expect(r).toMatchObject({
        ok: true,
        canonical: '{"frequency_penalty":0,"n":1,"presence_penalty":0,"strEam":true,"tap_p":2,"temperature":1,"top_p":1,"uber":1}',
      });
    });

    it("keys a non-object body by its whole canonical form", () => {
      expect(keyOf({ body: ' [ {"b":1,"a":1.0}, "x" ] ' })).toMatchObject({ canonical: '[{"a":1,"b":1},"x"]' });
      expect(keyOf({ body: "1e2" })).toMatchObject({ canonical: "100" });
    });

    it("reports a body that does not parse instead of keying it", () => {
      expect(keyOf({ body: '{"a":' })).toEqual({ ok: false, error: "unexpected end of input" });
      expect(keyOf({ body: `${"[".repeat(65)}${"]".repeat(65)}` })).toEqual({ ok: false, error: "nesting too deep" });
    });
  });

  describe("against the reference", () => {
    function check(rand: Rand, rules: KeyRulesRef, count: number): void {
      for (let i = 0; i < count; i++) {
        const body = randomBody(rand);
        const req: KeyRequestRef = {
          method: pick(rand, ["POST", "POST", "GET", "PÖST"]),
          authority: pick(rand, ["localhost", "Gateway.Example:8080", "[::1]:10000", `${randomString(rand, 5)}:${Math.floor(rand() * 65536)}`]),
          path: pick(rand, ["/v1/chat/completions", "/v1/completions", `/x/${randomString(rand, 4)}`]),
          model: rand() < 0.1 ? "" : pick(rand, ["llama", "mistral", randomString(rand, 6)]),
          version: rand() < 0.2 ? "" : pick(rand, ["v1", "v2", randomString(rand, 3)]),
          tenant: rand() < 0.1 ? "" : randomString(rand, 16),
          shared: rand() < 0.2,
        };
        const got = keyOf({ ...req, body });
        const want = { ok: true, hex: keyRef(req, body, rules), canonical: canonicalBodyRef(parseRef(body), rules) };
        expect({ body, got }).toEqual({ body, got: want });
        const same = equivalentBody(rand, parseRef(body), rules.drop, rules.defaults);
        expect({ body, same, canonical: canonicalBodyRef(parseRef(same), rules) }).toEqual({ body, same, canonical: want.canonical });
        expect({ body, same, got: hexOf({ ...req, body: same }) }).toEqual({ body, same, got: want.hex });
        if (i % 500 === 499) mod.call("collect");
      }
    }

    it("matches on 10,000 random documents with the default rules, and on their respellings", () => {
      expect(setConfig({})).not.toHaveProperty("error");
      check(prng(901), DEFAULT_RULES, 10_000);
    });

    it("matches on 1,000 random documents with custom rules", () => {
      const rules: KeyRulesRef = { drop: ["model", "b", "x"], defaults: { temperature: "0.0", "a-z": '{"q":[1,"é"],"p":null}', Z: "true", messages: "[]" } };
      const defaults = Object.fromEntries(Object.entries(rules.defaults).map(([k, v]) => [k, JSON.parse(v) as unknown]));
      expect(setConfig({ drop_fields: rules.drop, defaults })).not.toHaveProperty("error");
      check(prng(902), rules, 1000);
      expect(setConfig({})).not.toHaveProperty("error");
    });
  });
});

// ---------------------------------------------------------------------------------------------

interface Facts {
  method?: string;
  content_type?: string | null;
  cache_control?: string | null;
  pragma?: string | null;
  body_bytes?: number;
  model?: string;
  path?: string;
}
type Decision = { action: string; reason: string; status: string; stream: boolean };
const decide = (facts: Facts, body: string): Decision => mod.json<Decision>("decide", JSON.stringify(facts), body);

describe("inference-cache policy", () => {
  const CONFIG = { models: { iris: { cache_nondeterministic: true } }, max_body_bytes: 1000 };
  beforeAll(() => {
    expect(setConfig(CONFIG)).not.toHaveProperty("error");
  });

  describe("request", () => {
    const T0 = '{"model":"llama","messages":[],"temperature":0}';
    const CASES: Array<[string, Facts, string, string, string]> = [
      // name, facts, body, action, reason
      ["a deterministic request", {}, T0, "lookup", ""],
      ["a seed", {}, '{"seed":42}', "lookup", ""],
      ["temperature 0.0, -0, 0e3", {}, '{"temperature":0.0,"x":[-0,0e3]}', "lookup", ""],
      ["a JSON content type with parameters", { content_type: "application/json; charset=utf-8" }, T0, "lookup", ""],
      ["a +json content type", { content_type: "application/vnd.api+json" }, T0, "lookup", ""],
      ["GET", { method: "GET" }, T0, "bypass", "method-not-cached"],
      ["no body", {}, "", "bypass", "no-body"],
      ["a form body", { content_type: "application/x-www-form-urlencoded" }, T0, "bypass", "not-json"],
      ["+json without a subtype", { content_type: "application/+json" }, T0, "bypass", "not-json"],
      ["a body over max_body_bytes (content-length)", { body_bytes: 1001 }, T0, "bypass", "body-too-large"],
      ["a body over max_body_bytes (read)", {}, `{"temperature":0,"x":"${"a".repeat(1000)}"}`, "bypass", "body-too-large"],
      ["malformed JSON", {}, '{"temperature":0,', "bypass", "malformed-json"],
      ["a lone surrogate escape", {}, '{"temperature":0,"a":"\\ud800"}', "bypass", "malformed-json"],
      ["deep nesting", {}, `{"temperature":0,"x":${"[".repeat(64)}${"]".repeat(64)}}`, "bypass", "json-too-deep"],
      ["temperature 0.7", {}, '{"temperature":0.7}', "bypass", "nondeterministic"],
      ["temperature absent (default 1)", {}, '{"model":"llama"}', "bypass", "nondeterministic"],
      ["temperature as a string", {}, '{"temperature":"0"}', "bypass", "nondeterministic"],
      ["a null seed", {}, '{"seed":null,"temperature":1}', "bypass", "nondeterministic"],
      ["the last of duplicate temperatures", {}, '{"temperature":0,"temperature":1}', "bypass", "nondeterministic"],
      ["a non-object body", {}, "[1,2]", "bypass", "nondeterministic"],
      // An embedding is not sampled: no temperature or seed needed.
      ["embeddings without a temperature", { path: "/v1/embeddings" }, '{"model":"e","input":"hi"}', "lookup", ""],
      ["embeddings with a query and a trailing slash", { path: "/openai/deployments/e/embeddings/?api-version=1" }, '{"input":"hi"}', "lookup", ""],
      ["TEI's /embed", { path: "/embed" }, '{"inputs":"hi"}', "lookup", ""],
      ["Ollama's /api/embed", { path: "/api/embed" }, '{"model":"e","input":"hi"}', "lookup", ""],
      ["a path that only contains embeddings", { path: "/v1/embeddings/chat" }, '{"model":"e"}', "bypass", "nondeterministic"],
      ["a query that names embeddings", { path: "/v1/chat/completions?x=/embeddings" }, '{"model":"e"}', "bypass", "nondeterministic"],
      ["a longer last segment", { path: "/v1/myembeddings" }, '{"model":"e"}', "bypass", "nondeterministic"],
      ["chat without a temperature", { path: "/v1/chat/completions" }, '{"model":"llama"}', "bypass", "nondeterministic"],
      ["a model that opts in", { model: "iris" }, '{"temperature":0.9}', "lookup", ""],
      ["a non-object body of a model that opts in", { model: "iris" }, "[1,2]", "lookup", ""],
      ["client no-store", { cache_control: "no-store" }, T0, "bypass", "client-no-store"],
      ["client no-store before a malformed body", { cache_control: "max-age=0, No-Store" }, "{", "bypass", "client-no-store"],
      ["client no-cache", { cache_control: "no-cache" }, T0, "refresh", "client-no-cache"],
      ["client no-cache among others", { cache_control: "max-stale=5, NO-CACHE" }, T0, "refresh", "client-no-cache"],
      ["pragma no-cache", { pragma: "no-cache" }, T0, "refresh", "client-no-cache"],
      ["pragma ignored beside cache-control", { pragma: "no-cache", cache_control: "max-age=60" }, T0, "lookup", ""],
      ["client no-cache, nondeterministic", { cache_control: "no-cache" }, '{"temperature":1}', "bypass", "nondeterministic"],
    ];
    it.each(CASES)("%s", (_name, facts, body, action, reason) => {
      expect(decide(facts, body)).toMatchObject({ action, reason });
    });

    it("bypasses a body that is not UTF-8", () => {
      const body = Uint8Array.from([...enc('{"temperature":0,"a":"'), 0xff, ...enc('"}')]);
      expect(mod.json<Decision>("decide", "{}", body)).toMatchObject({ action: "bypass", reason: "malformed-json" });
    });

    it("reports the status before a lookup and whether the request streams", () => {
      expect(decide({}, '{"temperature":0,"stream":true}')).toEqual({ action: "lookup", reason: "", status: "MISS", stream: true });
      expect(decide({}, '{"temperature":0,"stream":"yes"}')).toMatchObject({ stream: false });
      expect(decide({ cache_control: "no-cache" }, '{"temperature":0}')).toMatchObject({ status: "REFRESH" });
      expect(decide({ method: "GET" }, "")).toMatchObject({ status: "BYPASS" });
    });

    it("emits the key only, for cacheable requests, in key_only mode", () => {
      expect(setConfig({ key_only: true })).not.toHaveProperty("error");
      expect(decide({}, T0)).toEqual({ action: "key-only", reason: "key-only", status: "BYPASS", stream: false });
      expect(decide({ cache_control: "no-cache" }, T0)).toMatchObject({ action: "key-only" });
      expect(decide({}, '{"temperature":1}')).toMatchObject({ action: "bypass", reason: "nondeterministic" });
      expect(decide({ cache_control: "no-store" }, T0)).toMatchObject({ action: "bypass", reason: "client-no-store" });
      expect(setConfig(CONFIG)).not.toHaveProperty("error");
    });

    it("takes a configured default temperature of 0 as deterministic", () => {
      expect(setConfig({ defaults: { temperature: 0.0 } })).not.toHaveProperty("error");
      expect(decide({}, '{"model":"llama"}')).toMatchObject({ action: "lookup" });
      expect(setConfig(CONFIG)).not.toHaveProperty("error");
    });
  });

  describe("directives", () => {
    const CASES: Array<[string, string, boolean]> = [
      ["no-cache", "no-cache", true],
      ["max-age=0, no-cache", "no-cache", true],
      ["NO-STORE", "no-store", true],
      ["no-cachex", "no-cache", false],
      ["x-no-cache", "no-cache", false],
      ['private="a, no-store"', "no-store", false],
      ['private="a, no-store", no-store', "no-store", true],
      ['private="a\\", no-store"', "no-store", false],
      [" , ,no-store ", "no-store", true],
      ["=,no-store", "no-store", true],
      ['x="unterminated, no-store', "no-store", false],
      ["", "no-store", false],
      ["no-store=", "no-store", true],
      ["private = \"set-cookie\"", "private", true],
      ["max-age=60,private", "private", true],
    ];
    it.each(CASES)("%j has %s: %s", (value, name, want) => {
      expect(mod.call("directive", value, name)).toBe(want ? 1 : 0);
    });
  });

  describe("freshness from the upstream's cache-control", () => {
    const CASES: Array<[string, number]> = [
      ["max-age=60", 60_000],
      ["public, max-age=1", 1_000],
      ["MAX-AGE = 30 , public", 30_000],
      ['max-age="45"', 45_000],
      ["max-age=120, s-maxage=10", 10_000],
      ["s-maxage=10, max-age=120", 10_000],
      ["max-age=0, s-maxage=60", 60_000],
      ["max-age=0007", 7_000],
      ["no-cache", -1],
      ["", -1],
      // Freshness that is not a number of seconds is stale at once (RFC 9111 4.2.1): 0.
      ["max-age", 0],
      ["max-age=", 0],
      ["max-age=abc", 0],
      ["max-age=5s", 0],
      ["max-age=-5", 0],
      ["s-maxage=abc, max-age=2", 0],
      ["max-age=0", 0],
      ["x-max-age=5", -1],
      ['private="max-age=5"', -1],
      ["max-age=99999999999999999999", -1],
      ["max-age=1000000000", 1_000_000_000_000],
      ["max-age=1000000001", -1],
    ];
    it.each(CASES)("%j keeps an entry at most %d ms (-1: the model's ttl_ms; 0: not at all)", (value, want) => {
      expect(mod.call("freshness", value)).toBe(want);
    });
  });

  describe("an entry's lifetime, from the response's arrival", () => {
    const CASES: Array<[number, string, string, number]> = [
      [600_000, "", "", 600_000],
      [600_000, "max-age=60", "", 60_000],
      [600_000, "max-age=60", "50", 10_000],
      [600_000, "max-age=60", "60", 0],
      [600_000, "", "100", 500_000],
      [10_000, "max-age=60", "50", -40_000],
      [600_000, "max-age=60", "x", 60_000],
      [600_000, "max-age=60", "7, 30", 53_000],
      [600_000, "max-age=60", " 7", 60_000],
    ];
    it.each(CASES)("ttl_ms %d, cache-control %j, age %j: %d ms (0 or less: stale on arrival)", (ttl, cc, age, want) => {
      expect(mod.call("lifetime", ttl, cc, age)).toBe(want);
    });
  });

  describe("response", () => {
    const OK = { status: 200, content_type: "application/json" };
    const CASES: Array<[string, Json, string]> = [
      ["200 JSON", OK, ""],
      ["200 JSON with charset", { ...OK, content_type: "Application/JSON ; charset=utf-8" }, ""],
      ["200 SSE", { ...OK, content_type: "text/event-stream" }, ""],
      ["200 +json", { ...OK, content_type: "application/problem+json" }, ""],
      ["201", { ...OK, status: 201 }, "status-not-cacheable"],
      ["500", { ...OK, status: 500 }, "status-not-cacheable"],
      ["304", { ...OK, status: 304 }, "status-not-cacheable"],
      ["HTML", { ...OK, content_type: "text/html" }, "content-type-not-cacheable"],
      ["no content type", { status: 200 }, "content-type-not-cacheable"],
      ["a content type over 255 bytes", { ...OK, content_type: `application/json; x=${"a".repeat(250)}` }, "content-type-not-cacheable"],
      ["set-cookie", { ...OK, set_cookie: true }, "upstream-set-cookie"],
      ["no-store", { ...OK, cache_control: "no-store" }, "upstream-no-store"],
      ["private", { ...OK, cache_control: "max-age=60, private" }, "upstream-private"],
      ["private with fields", { ...OK, cache_control: 'private="set-cookie"' }, "upstream-private"],
      ["no-cache", { ...OK, cache_control: "no-cache" }, "upstream-no-cache"],
      ["no-cache on an event stream (the SSE convention)", { ...OK, content_type: "text/event-stream", cache_control: "no-cache" }, ""],
      ["no-store on an event stream", { ...OK, content_type: "text/event-stream", cache_control: "no-store" }, "upstream-no-store"],
      ["public, max-age", { ...OK, cache_control: "public, max-age=60" }, ""],
      ["max-age=0", { ...OK, cache_control: "max-age=0" }, "upstream-no-cache"],
      ["s-maxage=0 over max-age", { ...OK, cache_control: "max-age=60, s-maxage=0" }, "upstream-no-cache"],
      ["a max-age that is not a number", { ...OK, cache_control: "max-age=abc" }, "upstream-no-cache"],
      ["an s-maxage that is not a number, beside a good max-age", { ...OK, cache_control: "s-maxage=x, max-age=60" }, "upstream-no-cache"],
      ["an age within max-age", { ...OK, cache_control: "max-age=60", age: "59" }, ""],
      ["an age at max-age", { ...OK, cache_control: "max-age=60", age: "60" }, "upstream-no-cache"],
      ["an age past s-maxage", { ...OK, cache_control: "s-maxage=10, max-age=60", age: "30" }, "upstream-no-cache"],
      ["an age list: its first member", { ...OK, cache_control: "max-age=60", age: "70, 5" }, "upstream-no-cache"],
      ["an age that is not a number, ignored", { ...OK, cache_control: "max-age=60", age: "70s" }, ""],
      ["an age without max-age (the model's ttl_ms decides)", { ...OK, age: "1000000" }, ""],
      ["gzip", { ...OK, content_encoding: "gzip" }, "upstream-content-encoding"],
      ["identity", { ...OK, content_encoding: "Identity" }, ""],
      ["content-length at the limit", { ...OK, content_length: 262144 - 64 - 16 }, ""],
      ["content-length over the limit", { ...OK, content_length: 262144 - 64 - 16 + 1 }, "response-too-large"],
    ];
    it.each(CASES)("%s", (_name, facts, reason) => {
      expect(mod.text("storable", JSON.stringify(facts))).toBe(reason);
    });

    it.each<[string, number]>([
      ["application/json", 1], ["application/json;charset=utf-8", 1], ["APPLICATION/JSON", 1], ["application/x+json", 1],
      ["text/event-stream", 2], ["text/event-stream; charset=utf-8", 2], ["text/plain", 0], ["", 0], ["json", 0],
      ["application/jsonx", 0], ["+json", 0],
    ])("reads %j as body kind %i", (ct, kind) => {
      expect(mod.call("bodyKind", ct)).toBe(kind);
    });
  });

  describe("reasons", () => {
    it("are unique, stable kebab-case names, each with its x-ai-cache value", () => {
      const table = mod.json<Array<[string, string]>>("reasons");
      expect(table[0]).toEqual(["", "MISS"]);
      const names = table.slice(1).map(([n]) => n);
      for (const n of names) expect(n).toMatch(/^[a-z]+(-[a-z0-9]+)*$/);
      expect(new Set(names).size).toBe(names.length);
      expect(names).toContain("nondeterministic");
      expect(names).toContain("client-no-store");
      expect(names).toContain("body-too-large");
      expect(names).toContain("malformed-json");
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("inference-cache entry", () => {
  const RECORDS: EntryRef[] = [
    { key: hexKey("a"), storedAt: 1_700_000_000_123n, expiresAt: 1_700_000_300_123n, status: 200, kind: 1, contentType: "application/json", body: enc('{"id":"x"}') },
    { key: hexKey("b"), storedAt: 0n, expiresAt: 0n, status: 200, kind: 2, contentType: "text/event-stream; charset=utf-8", body: enc("data: {}\n\ndata: [DONE]\n\n") },
    { key: hexKey("c"), storedAt: 2n ** 63n, expiresAt: 2n ** 64n - 1n, status: 599, kind: 1, contentType: "", body: new Uint8Array(0) },
    { key: hexKey("d"), storedAt: 5n, expiresAt: 6n, status: 100, kind: 2, contentType: `a\t${"x".repeat(253)}`, body: Uint8Array.from({ length: 70_000 }, (_, i) => i % 251) },
  ];
  const asEncode = (r: EntryRef) =>
    mod.bytes("encode", Buffer.from(r.key, "hex"), r.storedAt, r.expiresAt, r.status, r.kind, r.contentType, r.body);
  const asDecode = (bytes: Uint8Array) => {
    const got = mod.json<Json | null>("decode", bytes);
    if (got === null) return null;
    return {
      key: got.key, storedAt: BigInt(got.stored_at as string), expiresAt: BigInt(got.expires_at as string), status: got.status,
      kind: got.kind, contentType: got.content_type, body: new Uint8Array(Buffer.from(got.body as string, "hex")),
    };
  };

  it("encodes the documented layout, byte for byte", () => {
    for (const r of RECORDS) expect(Buffer.from(asEncode(r)).toString("hex")).toBe(Buffer.from(encodeEntryRef(r)).toString("hex"));
  });

  it("decodes what the TypeScript codec wrote, and the codec decodes what it wrote", () => {
    for (const r of RECORDS) {
      expect(asDecode(encodeEntryRef(r))).toEqual(r);
      expect(decodeEntryRef(asEncode(r))).toEqual(r);
    }
  });

  it.each<[string, Partial<EntryRef> & { keyBytes?: number }]>([
    ["a key of 31 bytes", { keyBytes: 31 }],
    ["kind 0", { kind: 0 as 1 }],
    ["kind 3", { kind: 3 as 1 }],
    ["status 99", { status: 99 }],
    ["status 600", { status: 600 }],
    ["expiry before storage", { storedAt: 10n, expiresAt: 9n }],
    ["a content type with a line break", { contentType: "text/plain\r\nx: y" }],
    ["a content type of 256 bytes", { contentType: "a".repeat(256) }],
    ["a non-ASCII content type", { contentType: "application/jsön" }],
  ])("refuses to encode %s", (_name, edit) => {
    const r = { ...RECORDS[0], ...edit };
    const key = Buffer.from(r.key, "hex").subarray(0, edit.keyBytes ?? 32);
    expect(mod.bytes("encode", key, r.storedAt, r.expiresAt, r.status, r.kind, r.contentType, r.body).length).toBe(0);
  });

  describe("garbage", () => {
    const good = encodeEntryRef(RECORDS[1]);

    it("decodes every truncation and extension like the reference (null)", () => {
      for (let n = 0; n < good.length + 3; n++) {
        const bytes = n <= good.length ? good.subarray(0, n) : Uint8Array.from([...good, ...new Array<number>(n - good.length).fill(0)]);
        expect({ n, got: asDecode(bytes) }).toEqual({ n, got: decodeEntryRef(bytes) });
      }
    });

    it("decodes every header byte mutated like the reference", () => {
      const rand = prng(71);
      for (let at = 0; at < 64 + 31; at++) {
        for (const value of [0, 1, 2, 0x7f, 0x80, 0xff, int(rand, 256)]) {
          const bytes = good.slice();
          bytes[at] = value;
          expect({ at, value, got: asDecode(bytes) }).toEqual({ at, value, got: decodeEntryRef(bytes) });
        }
      }
    });

    it("never traps on 3,000 random inputs, and agrees with the reference", () => {
      const rand = prng(72);
      for (let i = 0; i < 3000; i++) {
        const bytes = Uint8Array.from({ length: int(rand, 200) }, () => int(rand, 256));
        if (rand() < 0.5 && bytes.length >= 64) bytes.set(good.subarray(0, int(rand, 64)));
        expect(asDecode(bytes)).toEqual(decodeEntryRef(bytes));
        if (i % 500 === 499) mod.call("collect");
      }
    });
  });

  describe("slots", () => {
    const record = (key: string, storedAt: bigint, expiresAt: bigint) => encodeEntryRef({ ...RECORDS[0], key, storedAt, expiresAt });
    const key = Buffer.from(hexKey("k"), "hex");
    // SlotState: Empty, Malformed, OtherKey, Expired, Fresh
    const ANY_AGE = 2n ** 64n - 1n;
    it.each<[string, Uint8Array, bigint, bigint, number]>([
      ["an empty value", new Uint8Array(0), 0n, ANY_AGE, 0],
      ["garbage", enc("not a record"), 0n, ANY_AGE, 1],
      ["another key's record", record(hexKey("other"), 0n, 100n), 50n, ANY_AGE, 2],
      ["this key's record at its expiry", record(hexKey("k"), 0n, 100n), 100n, ANY_AGE, 3],
      ["this key's record long expired", record(hexKey("k"), 0n, 100n), 10n ** 15n, ANY_AGE, 3],
      ["this key's record before its expiry", record(hexKey("k"), 0n, 100n), 99n, ANY_AGE, 4],
      // The reader's own ttl_ms bounds a record another configuration wrote for longer.
      ["this key's record at the reader's ttl_ms", record(hexKey("k"), 1000n, 9000n), 3000n, 2000n, 3],
      ["this key's record within the reader's ttl_ms", record(hexKey("k"), 1000n, 9000n), 2999n, 2000n, 4],
      // Written by this Envoy, with this clock: a record over a second ahead means the clock
      // stepped back, and it would be served for its ttl plus the step.
      ["this key's record stored a second ahead of this clock", record(hexKey("k"), 4000n, 9000n), 3000n, 1n, 4],
      ["this key's record stored over a second ahead of this clock", record(hexKey("k"), 4001n, 9000n), 3000n, ANY_AGE, 3],
      ["another key's record at any age", record(hexKey("other"), 0n, 100n), 50n, 1n, 2],
    ])("reads %s", (_name, bytes, now, maxAge, state) => {
      const reads = mod.call("slotStateClockReads") as number;
      expect(mod.call("slotState", bytes, key, now, maxAge)).toBe(state);
      // The time is asked for only when the record is this key's: a miss makes no host call for it.
      expect((mod.call("slotStateClockReads") as number) - reads).toBe(state >= 3 ? 1 : 0);
    });

    it("picks the slot from the key's first four bytes, modulo slots", () => {
      const rand = prng(73);
      for (let i = 0; i < 500; i++) {
        const hex = hexKey(String(i));
        const slots = pick(rand, [1, 2, 1000, 1024, 65536, 1 + int(rand, 65536)]);
        expect(mod.call("slot", Buffer.from(hex, "hex"), slots)).toBe(slotOfRef(hex, slots));
      }
      expect(mod.call("slot", Buffer.from("ffffffff" + "00".repeat(28), "hex"), 65536)).toBe(65535);
    });

    it("names the shared-data key and the Redis key", () => {
      expect(mod.text("slotKeyOf", 1023)).toBe(slotKeyRef(1023));
      expect(mod.text("slotKeyOf", 0)).toBe("aigw/inference-cache/0");
      const hex = hexKey("r");
      for (const [tenant, shared] of [["c3e9a1c985d603e4", false], ["", false], ["x", true], ["a b/c:é", false], ["t".repeat(200), false]] as const) {
        expect(mod.text("redisKeyOf", "aigw:cache:", tenant, shared ? 1 : 0, hex)).toBe(redisKeyRef("aigw:cache:", tenant, shared, hex));
      }
      expect(mod.text("redisKeyOf", "p:", "anonymous", 0, hex)).toBe(`p:anonymous:${hex}`);
      expect(mod.text("redisKeyOf", "p:", "anonymous", 1, hex)).toBe(`p:shared:${hex}`);
    });
  });
});

// ---------------------------------------------------------------------------------------------

type ReadResult = { events: Array<[string, string]>; done: boolean; failed: boolean; count: number };
function sseRead(text: string | Uint8Array, cuts: number[], maxBytes = 1 << 20, keep = true): ReadResult {
  const at = new Uint8Array(new Uint32Array(cuts).buffer);
  return mod.json<ReadResult>("sseRead", text, at, maxBytes, keep ? 1 : 0);
}
const refEvents = (text: string) => parseSseRef(text).map((e) => [e.type, e.data] as [string, string]);

type Conv = { body: string | null; reason: string; detail: string };
const toJson = (sse: string, maxOut = 1 << 20) => mod.json<Conv>("toJson", sse, maxOut);
const toSse = (json: string, maxOut = 1 << 20) => mod.json<Conv>("toSse", json, maxOut);
const sseOf = (chunks: unknown[]) => `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join("")}data: [DONE]\n\n`;

const CHUNK = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1735689600, model: "llama-v1", system_fingerprint: "fp_1" };
const chunk = (choices: unknown[], extra: Json = {}) => ({ ...CHUNK, choices, ...extra });
const delta = (d: Json, finish: string | null = null, index = 0) => ({ index, delta: d, logprobs: null, finish_reason: finish });

describe("inference-cache sse", () => {
  describe("reader", () => {
    const STREAM = [
      "\ufeff: a comment\n",
      "event: ping\ndata\n\n",
      "data: {\"a\":1}\r\n\r\n",
      "data:no-space\rdata:  two spaces\r\r",
      "id: 7\nretry: 10\nfoo: bar\ndata: é😀\n\n",
      "data: first\ndata: second\n\n",
      "event: only-type\n\n",
      ":\n\n",
      "data: [DONE]\r\n\r\n",
      "data: after\n\ndata: unterminated",
    ].join("");

    it("reads the events the WHATWG rules give", () => {
      const got = sseRead(STREAM, []);
      expect(got.events).toEqual(refEvents(STREAM));
      expect(got.events).toEqual([
        ["ping", ""], ["", '{"a":1}'], ["", "no-space\n two spaces"], ["", "é😀"], ["", "first\nsecond"], ["", "[DONE]"], ["", "after"],
      ]);
      expect(got).toMatchObject({ done: true, failed: false, count: 7 });
    });

    it("reads the same events whatever byte the chunks split at", () => {
      const bytes = enc(STREAM);
      const want = sseRead(bytes, []);
      for (let cut = 0; cut <= bytes.length; cut++) {
        expect({ cut, got: sseRead(bytes, [cut]) }).toEqual({ cut, got: want });
      }
    });

    it("reads the same events from 1-byte chunks and from random splits", () => {
      const bytes = enc(STREAM);
      const want = sseRead(bytes, []);
      expect(sseRead(bytes, Array.from({ length: bytes.length }, (_, i) => i))).toEqual(want);
      const rand = prng(81);
      for (let i = 0; i < 300; i++) {
        const cuts = Array.from({ length: int(rand, 12) }, () => int(rand, bytes.length + 1)).sort((a, b) => a - b);
        expect({ cuts, got: sseRead(bytes, cuts) }).toEqual({ cuts, got: want });
      }
    });

    it("joins a CRLF split between chunks into one line end", () => {
      expect(sseRead("data: a\r\n\r\ndata: b\r\n\r\n", [8]).events).toEqual([["", "a"], ["", "b"]]);
      expect(sseRead("data: a\r\r\n", [8]).events).toEqual([["", "a"]]);
    });

    it("is not done without data: [DONE], nor by a [DONE] that is not the whole data", () => {
      expect(sseRead("data: {}\n\n", [])).toMatchObject({ done: false, count: 1 });
      expect(sseRead("data: [DONE]", [])).toMatchObject({ done: false, count: 0 });
      expect(sseRead("data: [DONE] \n\n", [])).toMatchObject({ done: false });
      expect(sseRead("data:[DONE]\n\n", [])).toMatchObject({ done: true });
      expect(sseRead("event: end\ndata: [DONE]\n\n", [])).toMatchObject({ done: true });
    });

    it("counts without keeping events when asked", () => {
      expect(sseRead(STREAM, [5], 1 << 20, false)).toEqual({ events: [], done: true, failed: false, count: 7 });
    });

    it("stops past maxBytes", () => {
      const text = "data: x\n\n".repeat(100);
      expect(sseRead(text, [450], 899)).toMatchObject({ failed: true, done: false, count: 50 });
      expect(sseRead(text, [450], 900)).toMatchObject({ failed: false, count: 100 });
    });

    it("agrees with the reference on 2,000 random streams, split at random", () => {
      const rand = prng(82);
      const pieces = ["data", "data:", "data: ", "event:", "event: x", ":", ": c", "\n", "\r", "\r\n", "\n\n", "[DONE]", "x", "é", "😀", "id: 1", " ", "dat"];
      for (let i = 0; i < 2000; i++) {
        const text = Array.from({ length: int(rand, 30) }, () => pick(rand, pieces)).join("");
        const bytes = enc(text);
        const cuts = Array.from({ length: int(rand, 6) }, () => int(rand, bytes.length + 1)).sort((a, b) => a - b);
        const got = sseRead(bytes, cuts);
        expect({ text, cuts, got: got.events }).toEqual({ text, cuts, got: refEvents(text) });
        expect(got.done).toBe(refEvents(text).some(([, d]) => d === "[DONE]"));
        if (i % 500 === 499) mod.call("collect");
      }
    });

    it("never traps on random bytes", () => {
      const rand = prng(83);
      for (let i = 0; i < 1000; i++) {
        const bytes = Uint8Array.from({ length: int(rand, 300) }, () => pick(rand, [0x0a, 0x0d, 0x3a, 0x20, 0x64, int(rand, 256)]));
        const got = sseRead(bytes, [int(rand, bytes.length + 1)], 200);
        expect(got.failed).toBe(bytes.length > 200);
      }
    });
  });

  describe("stream to whole response", () => {
    it("assembles a chat stream: role, content pieces, finish, usage", () => {
      const sse = sseOf([
        chunk([delta({ role: "assistant", content: "" })]),
        chunk([delta({ content: "Hello" })]),
        chunk([delta({ content: ", wörld 😀\n\"q\"" })]),
        chunk([delta({}, "stop")]),
        chunk([], { usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } }),
      ]);
      const got = toJson(sse);
      expect(got.reason).toBe("");
      expect(JSON.parse(got.body!)).toEqual({
        id: "chatcmpl-1", object: "chat.completion", created: 1735689600, model: "llama-v1", system_fingerprint: "fp_1",
        choices: [{ index: 0, message: { role: "assistant", content: 'Hello, wörld 😀\n"q"' }, logprobs: null, finish_reason: "stop" }],
        usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 },
      });
    });

    it("concatenates escaped pieces as text", () => {
      const sse = `data: {"object":"chat.completion.chunk","id":"i","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"caf\\u00e9 \\ud83d\\ude00"}}]}\n\n` +
        `data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"\\n\\/"},"finish_reason":"length"}]}\n\ndata: [DONE]\n\n`;
      const got = JSON.parse(toJson(sse).body!) as { choices: Array<{ message: { content: string } }> };
      expect(got.choices[0].message.content).toBe("café 😀\n/");
    });

    it("assembles tool calls by index: first id, type and name, arguments concatenated", () => {
      const sse = sseOf([
        chunk([delta({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "get_weather", arguments: "" } }] })]),
        chunk([delta({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })]),
        chunk([delta({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] })]),
        chunk([delta({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "get_time", arguments: "{}" } }] })]),
        chunk([delta({}, "tool_calls")]),
      ]);
      expect(JSON.parse(toJson(sse).body!)).toMatchObject({
        choices: [{
          index: 0,
          message: {
            role: "assistant", content: null,
            tool_calls: [
              { id: "call_a", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
              { id: "call_b", type: "function", function: { name: "get_time", arguments: "{}" } },
            ],
          },
          finish_reason: "tool_calls",
        }],
      });
    });

    it("keeps choices apart by index, in index order, with other text fields and logprobs", () => {
      const lp = (t: string) => ({ token: t, logprob: -0.5, bytes: null, top_logprobs: [] });
      const sse = sseOf([
        chunk([delta({ role: "assistant", content: "b1" }, null, 1), delta({ role: "assistant", reasoning_content: "think" }, null, 0)]),
        chunk([{ index: 0, delta: { content: "a1" }, logprobs: { content: [lp("a1")] }, finish_reason: null }]),
        chunk([{ index: 0, delta: { content: "a2" }, logprobs: { content: [lp("a2")] }, finish_reason: "stop" }, delta({ content: "b2" }, "length", 1)]),
      ]);
      expect(JSON.parse(toJson(sse).body!)).toMatchObject({
        choices: [
          { index: 0, message: { role: "assistant", content: "a1a2", reasoning_content: "think" }, logprobs: { content: [lp("a1"), lp("a2")] }, finish_reason: "stop" },
          { index: 1, message: { role: "assistant", content: "b1b2" }, logprobs: null, finish_reason: "length" },
        ],
      });
    });

    it("assembles a text_completion stream", () => {
      const head = { id: "cmpl-1", object: "text_completion", created: 7, model: "gpt-3.5-turbo-instruct" };
      const sse = sseOf([
        { ...head, choices: [{ text: "Once", index: 0, logprobs: null, finish_reason: null }] },
        { ...head, choices: [{ text: " upon", index: 0, logprobs: null, finish_reason: "length" }] },
        { ...head, choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
      ]);
      expect(JSON.parse(toJson(sse).body!)).toEqual({
        ...head, choices: [{ text: "Once upon", index: 0, logprobs: null, finish_reason: "length" }],
        usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      });
    });

    const NOT_CONVERTIBLE: Array<[string, string, string]> = [
      ["no [DONE]", `data: ${JSON.stringify(chunk([delta({ content: "x" })]))}\n\n`, "no data: [DONE]"],
      ["no chunks", "data: [DONE]\n\n", "no chunks"],
      ["an event that is not JSON", "data: hello\n\ndata: [DONE]\n\n", "event 0: expected value"],
      ["an error event", sseOf([{ error: { message: "overloaded" } }]), "event 0: an error event"],
      ["another object", sseOf([{ object: "list" }]), 'event 0: "object" is neither "chat.completion.chunk" nor "text_completion"'],
      ["two kinds", sseOf([chunk([]), { object: "text_completion", choices: [] }]), "event 1: chunks of two kinds"],
      ["a choice without an index", sseOf([chunk([{ delta: { content: "x" } }])]), "event 0: a choice without an index 0..127"],
      ["a choice index of 128", sseOf([chunk([delta({}, null, 128)])]), "event 0: a choice without an index 0..127"],
      ["a tool call without an index", sseOf([chunk([delta({ tool_calls: [{ id: "x" }] })])]), "event 0: a tool call without an index 0..127"],
      ["a non-string delta field twice", sseOf([chunk([delta({ audio: { id: "a" } })]), chunk([delta({ audio: { id: "b" } })])]), 'event 1: "audio" in two chunks'],
      ["deep nesting in a chunk", `data: ${"[".repeat(65)}${"]".repeat(65)}\n\ndata: [DONE]\n\n`, "event 0: nesting too deep"],
      ["a non-object chunk", "data: [1]\n\ndata: [DONE]\n\n", "event 0: not a JSON object"],
    ];
    it.each(NOT_CONVERTIBLE)("gives a reason for %s", (_name, sse, detail) => {
      expect(toJson(sse)).toEqual({ body: null, reason: "not-convertible", detail });
    });

    it("keeps to its output bound", () => {
      const sse = sseOf([chunk([delta({ content: "x".repeat(1000) }, "stop")])]);
      expect(toJson(sse, 100)).toMatchObject({ body: null, reason: "not-convertible", detail: "response larger than 100 bytes" });
      expect(toJson(sse, 2000).reason).toBe("");
    });

    it("stays bounded on a large stream of junk", () => {
      const sse = "data: x\n\n".repeat(100_000);
      expect(toJson(sse)).toMatchObject({ reason: "not-convertible", detail: "event 0: expected value" });
    });
  });

  describe("whole response to stream", () => {
    const COMPLETION = {
      id: "chatcmpl-9", object: "chat.completion", created: 1735689601, model: "llama-v2", system_fingerprint: "fp_9",
      choices: [
        { index: 0, message: { role: "assistant", content: "Bonjour 😀\n", refusal: null }, logprobs: null, finish_reason: "stop" },
        {
          index: 1,
          message: { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a": 1}' } }] },
          logprobs: null, finish_reason: "tool_calls",
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
    };

    it("writes one content chunk and one finish chunk per choice, a usage chunk, then [DONE]", () => {
      const got = toSse(JSON.stringify(COMPLETION, null, 2));
      expect(got.reason).toBe("");
      const events = parseSseRef(got.body!);
      expect(events.at(-1)).toEqual({ type: "", data: "[DONE]" });
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data) as Json);
      const head = { id: "chatcmpl-9", object: "chat.completion.chunk", created: 1735689601, model: "llama-v2", system_fingerprint: "fp_9" };
      expect(chunks).toEqual([
        { ...head, choices: [{ index: 0, delta: { role: "assistant", content: "Bonjour 😀\n", refusal: null }, logprobs: null, finish_reason: null }] },
        { ...head, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: "stop" }] },
        {
          ...head,
          choices: [{
            index: 1,
            delta: { role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: '{"a": 1}' } }] },
            logprobs: null, finish_reason: null,
          }],
        },
        { ...head, choices: [{ index: 1, delta: {}, logprobs: null, finish_reason: "tool_calls" }] },
        { ...head, choices: [], usage: COMPLETION.usage },
      ]);
      // No line break inside a data line, even from a pretty-printed response.
      for (const line of got.body!.split("\n")) expect(line === "" || line.startsWith("data: ")).toBe(true);
    });

    it("round-trips through the stream", () => {
      const back = JSON.parse(toJson(toSse(JSON.stringify(COMPLETION)).body!).body!) as Json;
      const want = structuredClone(COMPLETION) as Json;
      delete ((want.choices as Json[])[0].message as Json).refusal; // a null delta field says nothing
      expect(back).toEqual(want);
    });

    it("converts a text_completion", () => {
      const whole = { id: "c", object: "text_completion", created: 1, model: "m", choices: [{ text: "hi", index: 0, logprobs: null, finish_reason: "stop" }] };
      const sse = toSse(JSON.stringify(whole)).body!;
      expect(parseSseRef(sse).map((e) => e.data)).toEqual([
        '{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"text":"hi","index":0,"logprobs":null,"finish_reason":null}]}',
        '{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}]}',
        "[DONE]",
      ]);
      expect(JSON.parse(toJson(sse).body!)).toEqual(whole);
    });

    it("round-trips 300 random completions", () => {
      const rand = prng(84);
      for (let i = 0; i < 300; i++) {
        const n = 1 + int(rand, 3);
        const choices = Array.from({ length: n }, (_, index) => {
          const tools = rand() < 0.3
            ? Array.from({ length: 1 + int(rand, 3) }, (_, k) => ({ id: `call_${k}`, type: "function", function: { name: randomString(rand, 5), arguments: JSON.stringify({ q: randomString(rand) }) } }))
            : null;
          const message: Json = { role: "assistant", content: tools && rand() < 0.5 ? null : randomString(rand, 40) };
          if (tools) message.tool_calls = tools;
          return { index, message, logprobs: null, finish_reason: pick(rand, ["stop", "length", "tool_calls", null]) };
        });
        const whole: Json = { id: `id-${i}`, object: "chat.completion", created: i, model: randomString(rand, 6), choices };
        if (rand() < 0.5) whole.usage = { prompt_tokens: i, completion_tokens: 1, total_tokens: i + 1 };
        const sse = toSse(JSON.stringify(whole));
        expect(sse.reason).toBe("");
        expect(JSON.parse(toJson(sse.body!).body!)).toEqual(whole);
        if (i % 100 === 99) mod.call("collect");
      }
    });

    it.each<[string, string, string]>([
      ["not JSON", "{", "unexpected end of input"],
      ["not an object", "[]", "not a JSON object"],
      ["another object", '{"object":"list","choices":[]}', '"object" is neither "chat.completion" nor "text_completion"'],
      ["no choices", '{"object":"chat.completion"}', 'no "choices" array'],
      ["a choice without a message", '{"object":"chat.completion","choices":[{"index":0}]}', 'a choice without a "message" object'],
      ["tool calls not objects", '{"object":"chat.completion","choices":[{"message":{"tool_calls":[1]}}]}', '"tool_calls" is not an array of objects'],
      ["a text choice without text", '{"object":"text_completion","choices":[{"index":0}]}', 'a choice without a "text" string'],
    ])("gives a reason for %s", (_name, json, detail) => {
      expect(toSse(json)).toEqual({ body: null, reason: "not-convertible", detail });
    });
  });

  describe("replay", () => {
    const key = Buffer.from(hexKey("replay"), "hex");
    const entry = (kind: 1 | 2, contentType: string, body: string) =>
      mod.bytes("encode", key, 1n, 2n, 200, kind, contentType, body);
    type ReplayResult = { body: string | null; content_type: string; converted: boolean; reason: string; detail: string };
    const replay = (bytes: Uint8Array, stream: boolean, maxOut = 1 << 20) => mod.json<ReplayResult>("replay", bytes, stream ? 1 : 0, maxOut);

    it("sends a streamed miss's stored bytes to a streamed request: the same SSE events, chunk by chunk", () => {
      // The upstream's chunks, split mid-line and mid-CRLF; the stage passes each on as it comes,
      // feeds the reader, and stores the concatenation once [DONE] arrives.
      const upstream = `: keep-alive\r\n\r\n${sseOf([chunk([delta({ role: "assistant", content: "Hi" })]), chunk([delta({}, "stop")])]).replace(/\n\n/g, "\r\n\r\n")}`;
      const bytes = enc(upstream);
      const cuts = [3, 17, 18, 40, bytes.length - 3];
      expect(sseRead(bytes, cuts)).toMatchObject({ done: true });
      const got = replay(entry(2, "text/event-stream; charset=utf-8", upstream), true);
      expect(got).toEqual({ body: upstream, content_type: "text/event-stream; charset=utf-8", converted: false, reason: "", detail: "" });
      expect(parseSseRef(got.body!)).toEqual(parseSseRef(upstream));
      expect(sseRead(got.body!, []).events).toEqual(sseRead(bytes, cuts).events);
    });

    it("sends a stored whole response's bytes to a whole request", () => {
      const body = '{"id":"x","object":"chat.completion"}';
      expect(replay(entry(1, "application/json", body), false)).toEqual({ body, content_type: "application/json", converted: false, reason: "", detail: "" });
    });

    it("converts for the cross cases", () => {
      const sse = sseOf([chunk([delta({ role: "assistant", content: "Hi" }, "stop")])]);
      const asJson = replay(entry(2, "text/event-stream", sse), false);
      expect(asJson).toMatchObject({ content_type: "application/json", converted: true, reason: "" });
      expect(JSON.parse(asJson.body!)).toMatchObject({ object: "chat.completion", choices: [{ message: { content: "Hi" } }] });
      const asSse = replay(entry(1, "application/json", asJson.body!), true);
      expect(asSse).toMatchObject({ content_type: "text/event-stream", converted: true, reason: "" });
      expect(JSON.parse(toJson(asSse.body!).body!)).toEqual(JSON.parse(asJson.body!));
    });

    it("gives a reason when the stored body cannot be converted", () => {
      expect(replay(entry(2, "text/event-stream", `data: ${JSON.stringify(chunk([]))}\n\n`), false)).toEqual({
        body: null, content_type: "", converted: false, reason: "not-convertible", detail: "no data: [DONE]",
      });
      expect(replay(entry(1, "application/json", "{}"), true)).toMatchObject({ reason: "not-convertible" });
    });
  });
});
