// token-bucket's pure logic through build/pure/token-bucket.wasm (host-tests/token-bucket/
// pure-entry.ts): configuration errors with their exact texts and the derived values, the bucket
// arithmetic against a BigInt reference, the slot record against a TypeScript codec (both ways,
// and garbage), bucket ids against node:crypto, the table's claims, probing, refusals and
// conflicts over a test store, the reservation estimate and the max_tokens rewrite, the usage
// scanner split at every byte, header values against Go's Duration.String(), the error and stats
// tables against the README.
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildPureModule, loadWorker, type TestStore, type Worker } from "./token-bucket/build";
import {
  RECORD_BYTES, UNIT, addRef, bucketIdRef, decodeRecordRef, encodeRecordRef, goDuration, msUntilRef, refillRef, slotKey, usageRef,
  type SlotRecordRef,
} from "./token-bucket/reference";
import { prng } from "./support-prng";

const ROOT = path.resolve(__dirname, "..");
const read = (f: string) => readFileSync(path.join(ROOT, f), "utf8");
type Json = Record<string, unknown>;

/** A shared-data store like Envoy's: CAS per key, fresh CAS on every write. */
class MapStore implements TestStore {
  readonly values = new Map<number, { bytes: Uint8Array; cas: number }>();
  private nextCas = 1;
  /** Called before each write; may make it lose (return true: a racing write happened). */
  beforeWrite: ((slot: number) => boolean) | null = null;
  failReads = false;

  read(slot: number) {
    if (this.failReads) return "error" as const;
    return this.values.get(slot);
  }

  write(slot: number, bytes: Uint8Array, cas: number): 0 | 1 | 2 {
    if (this.beforeWrite?.(slot)) this.bump(slot);
    const v = this.values.get(slot);
    if (v !== undefined && cas !== 0 && cas !== v.cas) return 1;
    this.values.set(slot, { bytes, cas: this.nextCas++ });
    return 0;
  }

  bump(slot: number): void {
    const v = this.values.get(slot);
    if (v !== undefined) this.values.set(slot, { bytes: v.bytes, cas: this.nextCas++ });
  }
}

let store = new MapStore();
let mod: Worker;
beforeAll(async () => {
  await buildPureModule();
  mod = await loadWorker(() => store);
}, 180_000);
afterEach(() => {
  expect(mod.aborts).toEqual([]);
  mod.call("collect");
});

function setConfig(config: unknown): Json {
  return mod.json<Json>("setConfig", typeof config === "string" ? config : JSON.stringify(config));
}

const LIMITED = { default: { tenant: { requests_per_minute: 60, tokens_per_minute: 10_000 } } };

// ---------------------------------------------------------------------------------------------

describe("token-bucket config", () => {
  describe("validate", () => {
    const CASES: Array<[string, string, string]> = [
      ["blank", "", 'configuration: expected a JSON object with "models" or "default", got nothing'],
      ["not JSON", "{x", "configuration: expected JSON, got text that is not JSON at byte 1 (expected string key)"],
      ["a number beyond a double", '{"default":{"tenant":{"requests_per_minute":5,"tokens_per_minute":-2e400}}}',
        "default.tenant.tokens_per_minute: expected a number within a double's range, got -2e400"],
      ["neither models nor default", "{}", 'models: expected limits per model, or a "default" for every model, got neither "models" nor "default"'],
      ["unknown key", '{"model":{}}',
        "model: expected one of the keys tenant_header, shadow, failure_mode_deny, slots, cas_retries, max_body_bytes, max_json_depth, bytes_per_token, default_max_tokens, clamp_max_tokens, clamp_min_tokens, prompt_fields, models, default, got an unknown key"],
      ["slots 0", '{"default":{},"slots":0}', "slots: expected an integer 1..65536, got 0"],
      ["cas_retries too many", '{"default":{},"cas_retries":1001}', "cas_retries: expected an integer 0..1000, got 1001"],
      ["bytes_per_token 0", '{"default":{},"bytes_per_token":0}', "bytes_per_token: expected an integer 1..1024, got 0"],
      ["bytes_per_token fractional", '{"default":{},"bytes_per_token":3.5}', "bytes_per_token: expected an integer 1..1024, got 3.5"],
      ["default_max_tokens negative", '{"default":{},"default_max_tokens":-1}', "default_max_tokens: expected an integer 0..1000000000000, got -1"],
      ["clamp_min_tokens 0", '{"default":{},"clamp_min_tokens":0}', "clamp_min_tokens: expected an integer 1..1000000000000, got 0"],
      ["shadow not a boolean", '{"default":{},"shadow":"yes"}', 'shadow: expected true or false, got "yes"'],
      ["tenant_header upper case", '{"default":{},"tenant_header":"Authorization"}',
        "tenant_header: expected a lower-case header name (letters, digits, '-', '_', '.'), got \"Authorization\""],
      ["prompt_fields not a list", '{"default":{},"prompt_fields":"messages"}', 'prompt_fields: expected a list of up to 16 distinct field names, got "messages"'],
      ["prompt_fields twice", '{"default":{},"prompt_fields":["a","a"]}', 'prompt_fields[1]: expected each field once, got "a"'],
      ["models not an object", '{"models":[]}', "models: expected an object of up to 256 models by name, got []"],
      ["bad model name", '{"models":{"a b":{}}}',
        "models.a b: expected a model name: 1-128 letters, digits, '.', '_', ':', '/', '-', starting with a letter or digit, got \"a b\""],
      ["model not an object", '{"models":{"llama":1}}', "models.llama: expected an object with any of per_version, tenant, total, got 1"],
      ["unknown model key", '{"models":{"llama":{"tenants":{}}}}', "models.llama.tenants: expected one of the keys per_version, tenant, total, got an unknown key"],
      ["empty limits", '{"models":{"llama":{"tenant":{}}}}',
        "models.llama.tenant: expected an object with requests_per_minute or tokens_per_minute (and optional requests_burst, tokens_burst), got {}"],
      ["unknown limit key", '{"models":{"llama":{"tenant":{"rpm":1}}}}',
        "models.llama.tenant.rpm: expected one of the keys requests_per_minute, requests_burst, tokens_per_minute, tokens_burst, got an unknown key"],
      ["rate 0", '{"models":{"llama":{"total":{"tokens_per_minute":0}}}}', "models.llama.total.tokens_per_minute: expected an integer 1..1000000000000, got 0"],
      ["rate too large", '{"default":{"tenant":{"requests_per_minute":1e13}}}', "default.tenant.requests_per_minute: expected an integer 1..1000000000000, got 1e13"],
      ["burst alone", '{"default":{"tenant":{"tokens_per_minute":5,"requests_burst":3}}}', "default.tenant.requests_burst: expected requests_per_minute beside it, got 3"],
      ["per_version not a boolean", '{"models":{"llama":{"per_version":1}}}', "models.llama.per_version: expected true or false, got 1"],
      ["default not an object", '{"default":true}', "default: expected an object with any of per_model, per_version, tenant, total, got true"],
      ["per_model not a boolean", '{"default":{"per_model":"no"}}', 'default.per_model: expected true or false, got "no"'],
      ["per_version with per_model false", '{"default":{"per_model":false,"per_version":true}}', 'default.per_version: expected false beside "per_model": false (a version is one model\'s), got true'],
      ["per_model of a listed model", '{"models":{"llama":{"per_model":false}}}', "models.llama.per_model: expected one of the keys per_version, tenant, total, got an unknown key"],
    ];
    it.each(CASES)("refuses %s with one message naming the field", (_name, config, error) => {
      expect(setConfig(config)).toEqual({ error });
    });
  });

  describe("derive", () => {
    it("fills every default", () => {
      expect(setConfig({ models: {} })).toEqual({
        tenant_header: "authorization", shadow: false, failure_mode_deny: false, slots: 4096, cas_retries: 16,
        max_body_bytes: 1048576, max_json_depth: 64, bytes_per_token: 4, default_max_tokens: 1024, clamp_max_tokens: false,
        clamp_min_tokens: 16, prompt_fields: ["messages", "prompt", "input", "instructions", "tools"], models: {}, default: null,
      });
    });

    it("takes a burst equal to the rate unless given, and leaves unnamed dimensions unlimited", () => {
      const cfg = setConfig({ models: { llama: { per_version: true, tenant: { tokens_per_minute: 1000, tokens_burst: 5000 }, total: { requests_per_minute: 7 } } } });
      expect(cfg.models).toEqual({
        llama: {
          per_version: true,
          tenant: { requests: null, tokens: { per_minute: 1000, burst: 5000 } },
          total: { requests: { per_minute: 7, burst: 7 }, tokens: null },
        },
      });
    });

    it("gives each model of the default its own buckets unless per_model is false", () => {
      expect(setConfig({ default: { tenant: { requests_per_minute: 1 } } }).default).toMatchObject({ per_model: true });
      expect(setConfig({ default: { per_model: false, tenant: { requests_per_minute: 1 } } }).default).toMatchObject({ per_model: false });
    });

    it("applies a model's own limits, else the default's, else none", () => {
      setConfig({ models: { llama: { tenant: { requests_per_minute: 1 } }, free: {} }, default: { total: { requests_per_minute: 2 } } });
      expect(mod.text("limitsOf", "llama")).toBe("llama");
      expect(mod.text("limitsOf", "free")).toBe("free");
      expect(mod.text("limitsOf", "other")).toBe("*");
      expect(mod.text("limitsOf", "")).toBe("*");
      setConfig({ models: { llama: { tenant: { requests_per_minute: 1 } } } });
      expect(mod.text("limitsOf", "other")).toBe("");
    });

    it("accepts the full example of the README, which equals config.example.json", () => {
      const example = read("plugins/token-bucket/config.example.json");
      const readme = read("plugins/token-bucket/README.md");
      const block = /### Full example[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
      expect(block).toBe(example);
      expect(setConfig(example).error).toBeUndefined();
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("bucket arithmetic", () => {
  it("refills exactly, never above the burst, and tells how long until a level", () => {
    const rand = prng(7);
    for (let i = 0; i < 5000; i++) {
      const perMinute = BigInt(1 + Math.floor(rand() ** 3 * 1e9));
      const burst = BigInt(1 + Math.floor(rand() ** 3 * 1e9));
      const l = { perMinute, burst };
      const cap = burst * UNIT;
      const level = BigInt(Math.floor((rand() * 2 - 1) * Number(cap)));
      const elapsed = BigInt(Math.floor(rand() ** 4 * 1e9));
      expect(mod.num("refill", perMinute, burst, level, elapsed), `${perMinute}/${burst} ${level} +${elapsed}`).toBe(refillRef(l, level, elapsed));
      const target = BigInt(Math.floor(rand() * Number(cap)));
      expect(mod.num("msUntil", perMinute, burst, level, target)).toBe(msUntilRef(l, level, target));
      const delta = BigInt(Math.floor((rand() * 4 - 2) * Number(cap)));
      expect(mod.num("addLevel", perMinute, burst, level, delta)).toBe(addRef(l, level, delta));
    }
    expect(mod.num("msUntil", 60n, 1n, 0n, 2n * UNIT)).toBe(-1n);
    expect(mod.num("whole", -5n)).toBe(0n);
    expect(mod.num("whole", 3n * UNIT - 1n)).toBe(2n);
  });

  it("admits at most burst + rate × time however the refills are split", () => {
    // 1 token per minute is one level unit per ms: 1,000 refills of 1 ms each equal one of 1 s.
    let level = 0n;
    for (let i = 0; i < 1000; i++) level = mod.num("refill", 7n, 100n, level, 1n) as bigint;
    expect(level).toBe(mod.num("refill", 7n, 100n, 0n, 1000n));
  });
});

// ---------------------------------------------------------------------------------------------

describe("slot record", () => {
  const randomRecord = (rand: () => number): SlotRecordRef => ({
    owner: [...Array(16)].map(() => Math.floor(rand() * 256).toString(16).padStart(2, "0")).join(""),
    updatedMs: BigInt(Math.floor(rand() * 2 ** 52)),
    fullAtMs: BigInt(Math.floor(rand() * 2 ** 52)),
    requests: BigInt(Math.floor((rand() * 2 - 1) * 2 ** 62)),
    tokens: BigInt(Math.floor((rand() * 2 - 1) * 2 ** 62)),
  });
  const asStrings = (r: SlotRecordRef) => ({
    owner: r.owner, updated_ms: String(r.updatedMs), full_at_ms: String(r.fullAtMs), requests: String(r.requests), tokens: String(r.tokens),
  });

  it("round-trips between the AssemblyScript and the TypeScript codecs", () => {
    expect(mod.num("recordBytes")).toBe(RECORD_BYTES);
    const rand = prng(11);
    for (let i = 0; i < 500; i++) {
      const r = randomRecord(rand);
      const bytes = mod.bytes("encodeRecordOf", JSON.stringify(asStrings(r)));
      expect(Buffer.from(bytes).toString("hex")).toBe(Buffer.from(encodeRecordRef(r)).toString("hex"));
      expect(decodeRecordRef(bytes)).toEqual({ state: "owned", record: r });
      expect(mod.json("decodeRecordOf", encodeRecordRef(r))).toEqual({ state: "owned", ...asStrings(r) });
    }
  });

  it("reads an all-zero owner as free and anything else as malformed", () => {
    const free = encodeRecordRef({ owner: "0".repeat(32), updatedMs: 0n, fullAtMs: 0n, requests: 0n, tokens: 0n });
    expect(mod.json<Json>("decodeRecordOf", free).state).toBe("free");
    const wrongFormat = free.slice();
    wrongFormat[0] = 2;
    for (const bad of [new Uint8Array(0), free.subarray(0, 55), Buffer.concat([free, Buffer.from([0])]), wrongFormat, Buffer.from("AIGC garbage")]) {
      expect(mod.json<Json>("decodeRecordOf", bad).state).toBe("malformed");
      expect(decodeRecordRef(bad).state).toBe("malformed");
    }
  });

  it("names slot keys aigw/token-bucket/<slot>", () => {
    for (const slot of [0, 7, 10, 4095, 65535, 4294967295]) expect(mod.text("slotKeys", slot)).toBe(`${slotKey(slot)}|${slotKey(slot)}`);
  });

  it("derives bucket ids as documented, apart for every scope, model, version, tenant and limit", () => {
    const L = (a: number, b: number) => ({ perMinute: BigInt(a), burst: BigInt(b) });
    const variants: Array<[1 | 2, string, string, string, number, number, number, number]> = [
      [1, "llama", "", "t1", 60, 60, 1000, 1000],
      [2, "llama", "", "t1", 60, 60, 1000, 1000],
      [1, "llama", "v1", "t1", 60, 60, 1000, 1000],
      [1, "llama", "", "t2", 60, 60, 1000, 1000],
      [1, "llamb", "", "t1", 60, 60, 1000, 1000],
      [1, "llam", "a", "t1", 60, 60, 1000, 1000],
      [1, "llama", "", "t1", 60, 61, 1000, 1000],
      [1, "llama", "", "t1", 0, 0, 1000, 1000],
      [1, "llama", "", "t1", 60, 60, 0, 0],
      [1, "lläma", "", "", 60, 60, 1000, 1000],
    ];
    const seen = new Set<string>();
    for (const [scope, model, version, tenant, rpm, rb, tpm, tb] of variants) {
      const got = mod.text("bucketIdOf", scope, model, version, tenant, BigInt(rpm), BigInt(rb), BigInt(tpm), BigInt(tb));
      expect(got).toBe(bucketIdRef(scope, model, version, tenant, rpm ? L(rpm, rb) : null, tpm ? L(tpm, tb) : null));
      seen.add(got);
    }
    expect(seen.size).toBe(variants.length);
  });

  it("serves repeated ids from its cache without mixing up scopes, models, versions or tenants", () => {
    const L = { requests: { perMinute: 60n, burst: 60n }, tokens: { perMinute: 1000n, burst: 1000n } };
    const rand = prng(13);
    const pick = <T,>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    for (let i = 0; i < 400; i++) {
      const scope = pick([1, 2] as const);
      const [model, version, tenant] = [pick(["llama", "iris", "llama2"]), pick(["", "v1"]), pick(["", "a", "b", "ab"])];
      expect(mod.text("bucketIdFixed", scope, model, version, tenant)).toBe(bucketIdRef(scope, model, version, tenant, L.requests, L.tokens));
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("bucket table", () => {
  const NOW = 1_767_225_600_000n;
  enum Take { Taken, Refused, TooLarge, Contention, TableFull, StoreError }
  enum Give { Done, Gone, Contention, StoreError }
  const ID = (n: number): [bigint, bigint] => [BigInt(n) * 0x9e3779b97f4a7c15n % 2n ** 64n || 1n, BigInt(n)];

  function table(slots: number, retries: number, rpm: number, rb: number, tpm: number, tb: number): MapStore {
    store = new MapStore();
    mod.call("tableConfigure", slots, retries, BigInt(rpm), BigInt(rb), BigInt(tpm), BigInt(tb));
    expect(mod.num("tableCreate")).toBe(1);
    return store;
  }
  const take = (id: [bigint, bigint], tokens: number, now = NOW, min = tokens, base = 0, step = 1) =>
    Number(mod.num("tableTake", id[0], id[1], 1n, BigInt(tokens), BigInt(min), BigInt(base), BigInt(step), now));
  const res = () => ({
    slot: Number(mod.num("takeResult", 0)), granted: Number(mod.num("takeResult", 1)),
    requests: Number(mod.num("takeResult", 2)) / 60_000, tokens: Number(mod.num("takeResult", 3)) / 60_000,
    refusedRequests: mod.num("takeResult", 4) === 1n, refusedTokens: mod.num("takeResult", 5) === 1n,
    retryAfterMs: Number(mod.num("takeResult", 6)), conflicts: Number(mod.num("takeResult", 7)),
  });

  it("creates every slot once, as free, and leaves existing slots alone", () => {
    const s = table(8, 4, 10, 10, 0, 0);
    expect([...s.values.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const v of s.values.values()) expect(decodeRecordRef(v.bytes).state).toBe("free");
    expect(take(ID(1), 0)).toBe(Take.Taken);
    const before = [...s.values.entries()].map(([k, v]) => [k, v.cas]);
    expect(mod.num("tableCreate")).toBe(1);
    expect([...s.values.entries()].map(([k, v]) => [k, v.cas])).toEqual(before);
  });

  it("starts a bucket full, counts down, refuses without writing, and says when to retry", () => {
    const s = table(64, 4, 3, 3, 1000, 1000);
    const id = ID(5);
    expect(take(id, 400)).toBe(Take.Taken);
    expect(res()).toMatchObject({ granted: 400, requests: 2, tokens: 600 });
    expect(take(id, 400)).toBe(Take.Taken);
    expect(res()).toMatchObject({ requests: 1, tokens: 200 });
    const snapshot = JSON.stringify([...s.values.values()].map((v) => v.cas));
    expect(take(id, 400)).toBe(Take.Refused);
    // 200 tokens short at 1000 per minute: 12 s.
    expect(res()).toMatchObject({ refusedTokens: true, refusedRequests: false, tokens: 200, retryAfterMs: 12_000 });
    expect(JSON.stringify([...s.values.values()].map((v) => v.cas))).toBe(snapshot);
    expect(take(id, 100)).toBe(Take.Taken);
    expect(take(id, 1)).toBe(Take.Refused);
    // The requests bucket is empty: 3 per minute, one back in 20 s.
    expect(res()).toMatchObject({ refusedRequests: true, retryAfterMs: 20_000 });
    expect(take(id, 1, NOW + 20_000n)).toBe(Take.Taken);
    expect(res().requests).toBe(0);
  });

  it("refuses a reservation larger than the burst at once, and grants a clamped one in whole steps", () => {
    table(64, 4, 0, 0, 1000, 1000);
    expect(take(ID(1), 1001)).toBe(Take.TooLarge);
    expect(res().refusedTokens).toBe(true);
    // prompt 100 + 7 choices × up to 500; at least 100 + 7 × 16: 100 + 7 × 128 of the 1000 left.
    expect(take(ID(1), 3600, NOW, 212, 100, 7)).toBe(Take.Taken);
    expect(res()).toMatchObject({ granted: 996, tokens: 4 });
    expect(take(ID(1), 3600, NOW, 212, 100, 7)).toBe(Take.Refused);
    expect(take(ID(1), 100, NOW + 6_000n)).toBe(Take.Taken);
  });

  it("gives back and takes more on settlement, within ± the burst, and knows when the slot went to another bucket", () => {
    const s = table(64, 4, 0, 0, 1000, 1000);
    const id = ID(9);
    expect(take(id, 900)).toBe(Take.Taken);
    const slot = res().slot;
    expect(mod.num("tableGive", slot, id[0], id[1], 0n, 500n, NOW)).toBe(Give.Done);
    expect(take(id, 600)).toBe(Take.Taken);
    expect(res().tokens).toBe(0);
    expect(mod.num("tableGive", slot, id[0], id[1], 0n, -5000n, NOW)).toBe(Give.Done);
    const rec = decodeRecordRef(s.values.get(slot)!.bytes).record!;
    expect(rec.tokens).toBe(-1000n * UNIT);
    // Full again after 2 minutes: the slot may go to another bucket, and the settlement finds it gone.
    expect(rec.fullAtMs).toBe(NOW + 120_000n);
    const other = ID(10);
    mod.call("tableConfigure", 1, 4, 0n, 0n, 1000n, 1000n);
    s.values.clear();
    mod.num("tableCreate");
    expect(take(id, 1000)).toBe(Take.Taken);
    expect(take(other, 1, NOW + 1000n)).toBe(Take.TableFull);
    expect(take(other, 1, NOW + 61_000n)).toBe(Take.Taken);
    expect(mod.num("tableGive", 0, id[0], id[1], 0n, 1n, NOW + 61_000n)).toBe(Give.Gone);
  });

  it("keeps buckets apart in a crowded table: probing, claims, and a full probe range", () => {
    const s = table(16, 4, 0, 0, 100, 100);
    const slotOf = new Map<number, number>();
    let full = 0;
    for (let i = 1; i <= 40; i++) {
      const st = take(ID(i), 10);
      if (st === Take.TableFull) {
        full++;
        continue;
      }
      expect(st).toBe(Take.Taken);
      expect(res().tokens).toBe(90);
      slotOf.set(i, res().slot);
    }
    // One bucket per slot, each within the probe range (8) of its home.
    expect(new Set(slotOf.values()).size).toBe(slotOf.size);
    expect(full).toBeGreaterThan(0);
    expect(slotOf.size + full).toBe(40);
    for (const [i, slot] of slotOf) {
      const home = Number(mod.num("homeOf", ID(i)[0], ID(i)[1]));
      expect((slot - home + 16) % 16).toBeLessThan(8);
      const owner = decodeRecordRef(s.values.get(slot)!.bytes).record!.owner;
      expect(owner.slice(0, 16)).toBe(Buffer.from(new BigUint64Array([ID(i)[0]]).buffer).toString("hex"));
    }
    // Each finds its own bucket again, with its own level.
    for (const [i, slot] of slotOf) {
      expect(take(ID(i), 10)).toBe(Take.Taken);
      expect(res()).toMatchObject({ slot, tokens: 80 });
    }
  });

  it("takes over a slot of another format", () => {
    const s = table(1, 4, 0, 0, 100, 100);
    s.values.set(0, { bytes: new Uint8Array([2, 0, 0]), cas: 999 });
    expect(take(ID(1), 10)).toBe(Take.Taken);
    expect(decodeRecordRef(s.values.get(0)!.bytes).state).toBe("owned");
  });

  it("retries a lost compare-and-swap, gives up after cas_retries, and reports shared-data errors", () => {
    const s = table(8, 3, 0, 0, 1000, 1000);
    let lose = 2;
    s.beforeWrite = () => lose-- > 0;
    expect(take(ID(1), 100)).toBe(Take.Taken);
    expect(res().conflicts).toBe(2);
    s.beforeWrite = () => true;
    expect(take(ID(1), 100)).toBe(Take.Contention);
    expect(res().conflicts).toBe(4);
    expect(mod.num("tableGive", res().slot, ID(1)[0], ID(1)[1], 0n, 1n, NOW)).toBe(Give.Contention);
    expect(mod.num("giveConflicts")).toBe(4);
    s.beforeWrite = null;
    // Nothing was lost: 900 left.
    expect(take(ID(1), 0)).toBe(Take.Taken);
    expect(res().tokens).toBe(900);
    s.failReads = true;
    expect(take(ID(1), 1)).toBe(Take.StoreError);
    s.failReads = false;
    // A slot that was never created is an error, not a key to create while racing.
    s.values.clear();
    expect(take(ID(2), 1)).toBe(Take.StoreError);
  });

  it("never lets a level refill backwards in time", () => {
    table(8, 4, 0, 0, 60, 60);
    expect(take(ID(1), 30, NOW)).toBe(Take.Taken);
    // An earlier clock (another worker's) refills nothing and does not move the bucket's time back:
    expect(take(ID(1), 1, NOW - 10_000n)).toBe(Take.Taken);
    // else 11 s of refill would follow here instead of 1 s.
    expect(take(ID(1), 30, NOW + 1000n)).toBe(Take.Taken);
    expect(take(ID(1), 1, NOW + 1000n)).toBe(Take.Refused);
  });
});

// ---------------------------------------------------------------------------------------------

describe("reservation estimate", () => {
  beforeAll(() => {
    setConfig({ default: { tenant: { tokens_per_minute: 1000 } }, default_max_tokens: 100, bytes_per_token: 4 });
  });
  // `api`: the LimitField naming the path's API, 0 Chat Completions (and the like), 2 Responses.
  const est = (body: unknown, api = 0) => mod.json<Json>("estimate", typeof body === "string" ? body : JSON.stringify(body), api);

  it.each([
    ["a chat request with max_tokens", { model: "m", messages: [{ role: "user", content: "abcdefgh" }], max_tokens: 50 }, { prompt: 3, max_tokens: 50, explicit: true, choices: 1, reservation: 53 }],
    ["content parts and n", { messages: [{ role: "user", content: [{ type: "text", text: "abcd" }] }], n: 3, max_completion_tokens: 10 }, { prompt: 3, max_tokens: 10, choices: 3, reservation: 33 }],
    ["the larger of max_tokens and max_completion_tokens", { prompt: "abcd", max_tokens: 5, max_completion_tokens: 9 }, { prompt: 1, max_tokens: 9, reservation: 10 }],
    ["no max_tokens: the default", { input: ["abcd", "efgh"] }, { prompt: 2, max_tokens: 100, explicit: false, reservation: 102 }],
    ["null counts as absent", { prompt: "x", max_tokens: null, n: null }, { prompt: 1, max_tokens: 100, choices: 1, reservation: 101 }],
    ["escapes as written", { prompt: "\n\n" }, { prompt: 1 }],
    ["keys and other fields not counted", { messages: [], temperature: 1, user: "a very long user name" }, { prompt: 0, reservation: 100 }],
    ["tools and instructions counted", { tools: [{ type: "function", function: { name: "abcdefgh" } }], instructions: "abcd" }, { prompt: 5 }],
    ["an integer spelled 1e2", '{"max_tokens":1e2}', { max_tokens: 100, explicit: true }],
    ["the larger of the chat limits, not the Responses API's", { max_output_tokens: 70, max_tokens: 30, max_completion_tokens: 20 }, { max_tokens: 30, given_field: 0 }],
    ["no chat limit: the default, whatever max_output_tokens says", { max_output_tokens: 1 }, { max_tokens: 100, explicit: false, given_field: -1 }],
    ["an invalid max_output_tokens on a chat request: not read", { max_output_tokens: "x", max_tokens: 5 }, { max_tokens: 5 }],
  ] as Array<[string, unknown, Json]>)("reads %s", (_name, body, expected) => {
    expect(est(body)).toMatchObject({ parsed: true, fault: "", ...expected });
  });

  it.each([
    ["max_output_tokens", { model: "m", input: "abcd", max_output_tokens: 10 }, { prompt: 1, max_tokens: 10, explicit: true, given_field: 2, reservation: 11 }],
    ["max_output_tokens, not the chat limits", { max_output_tokens: 7, max_tokens: 30, max_completion_tokens: 20 }, { max_tokens: 7, given_field: 2 }],
    ["no max_output_tokens: the default, whatever max_tokens says", { input: "abcd", max_tokens: 1 }, { max_tokens: 100, explicit: false }],
    ["an escaped max_output_tokens", '{"max\\u005foutput_tokens":5000}', { max_tokens: 5000, given_field: 2 }],
  ] as Array<[string, unknown, Json]>)("reads the Responses API's %s", (_name, body, expected) => {
    expect(est(body, 2)).toMatchObject({ parsed: true, fault: "", ...expected });
  });

  it.each([
    ["max_tokens a string", { max_tokens: "10" }, "not_integer", "max_tokens", '"10"'],
    ["max_tokens a fraction", { max_tokens: 1.5 }, "not_integer", "max_tokens", "1.5"],
    ["max_tokens negative", { max_tokens: -1 }, "below_minimum", "max_tokens", "-1"],
    ["max_tokens absurd", { max_tokens: 1e15 }, "above_maximum", "max_tokens", "1000000000000000"],
    ["max_tokens beyond i64", '{"max_tokens":1e30}', "not_integer", "max_tokens", "1e30"],
    ["max_completion_tokens an object", { max_completion_tokens: {} }, "not_integer", "max_completion_tokens", "{}"],
    ["n zero", { n: 0 }, "below_minimum", "n", "0"],
    ["n over 128", { n: 129 }, "above_maximum", "n", "129"],
  ] as Array<[string, unknown, string, string, string]>)("faults %s", (_name, body, fault, field, value) => {
    expect(est(body)).toMatchObject({ fault, fault_field: field, fault_value: value });
  });

  it("faults an invalid max_output_tokens of a Responses API request", () => {
    expect(est({ max_output_tokens: -5 }, 2)).toMatchObject({ fault: "below_minimum", fault_field: "max_output_tokens", fault_value: "-5" });
  });

  it("reads any other body as opaque bytes with the default max_tokens", () => {
    expect(est("not json at all")).toMatchObject({ parsed: false, prompt: 4, max_tokens: 100, reservation: 104 });
    expect(est("[1,2,3]")).toMatchObject({ parsed: true, prompt: 2, max_tokens: 100 });
    expect(est('"a string"')).toMatchObject({ prompt: 3 });
  });

  it("agrees with a TypeScript estimate on random chat requests", () => {
    const rand = prng(3);
    const word = () => "abcdé\n\"xyz ü".slice(0, 1 + Math.floor(rand() * 12));
    for (let i = 0; i < 300; i++) {
      const messages = [...Array(Math.floor(rand() * 5))].map(() => ({ role: "user", content: rand() < 0.5 ? word() : [{ type: "text", text: word() }] }));
      const body: Json = { model: "m", messages };
      if (rand() < 0.5) body.max_tokens = Math.floor(rand() * 1000);
      if (rand() < 0.3) body.n = 1 + Math.floor(rand() * 4);
      const json = JSON.stringify(body);
      // String values inside messages, as the JSON text writes them, without quotes.
      let bytes = 0;
      const visit = (v: unknown) => {
        if (typeof v === "string") bytes += Buffer.byteLength(JSON.stringify(v)) - 2;
        else if (Array.isArray(v)) v.forEach(visit);
        else if (v && typeof v === "object") Object.values(v).forEach(visit);
      };
      visit(messages);
      const prompt = Math.ceil(bytes / 4);
      const max = (body.max_tokens as number | undefined) ?? 100;
      const n = (body.n as number | undefined) ?? 1;
      expect(est(json)).toMatchObject({ prompt, max_tokens: max, choices: n, reservation: prompt + max * n });
    }
  });
});

describe("max_tokens rewrite", () => {
  beforeAll(() => {
    setConfig(LIMITED);
  });
  // `api`: 0 Chat Completions and the like, 2 the Responses API (LimitField).
  const rewrite = (body: string, n: number, api = 0) => mod.text("rewrite", body, BigInt(n), api);

  it.each([
    ['{"model":"m","max_tokens":500,"x":1}', 40, '{"model":"m","max_tokens":40,"x":1}'],
    ['{"max_completion_tokens":500}', 7, '{"max_completion_tokens":7}'],
    ['{"max_tokens":100, "max_completion_tokens" : 900}', 50, '{"max_tokens":50, "max_completion_tokens" : 50}'],
    ['{"max_completion_tokens":900,"max_tokens":10}', 50, '{"max_completion_tokens":50,"max_tokens":10}'],
    ['{"max_tokens":null}', 5, '{"max_tokens":5}'],
    ['{"max_tokens":1e3}', 5, '{"max_tokens":5}'],
    ['{"model":"m"}', 12, '{"max_tokens":12,"model":"m"}'],
    ["{}", 12, '{"max_tokens":12}'],
    [' { "a" : "é" } ', 3, ' {"max_tokens":3, "a" : "é" } '],
    ['{"max_tokens":3}', 5, '{"max_tokens":3}'],
    ["[1]", 5, ""],
    ['{"max_output_tokens":900,"max_completion_tokens":null,"max_tokens":5}', 10, '{"max_output_tokens":900,"max_completion_tokens":10,"max_tokens":5}'],
    ['{"max_tokens":800,"max_output_tokens":900,"max_completion_tokens":700}', 10, '{"max_tokens":10,"max_output_tokens":900,"max_completion_tokens":10}'],
    ['{"max_output_tokens":5000}', 10, '{"max_tokens":10,"max_output_tokens":5000}'],
  ])("rewrites %s to max_tokens %d", (body, n, expected) => {
    const out = rewrite(body, n);
    expect(out).toBe(expected);
    if (out !== "") expect(() => JSON.parse(out)).not.toThrow();
  });

  it("lowers or adds the Responses API's own max_output_tokens, whatever other fields say", () => {
    expect(rewrite('{"input":"hi","max_output_tokens":900}', 99, 2)).toBe('{"input":"hi","max_output_tokens":99}');
    expect(rewrite('{"model":"m","input":"hi"}', 12, 2)).toBe('{"max_output_tokens":12,"model":"m","input":"hi"}');
    expect(rewrite('{"max_tokens":1}', 12, 2)).toBe('{"max_output_tokens":12,"max_tokens":1}');
    expect(rewrite('{"max_tokens":800,"max_output_tokens":900}', 10, 2)).toBe('{"max_tokens":800,"max_output_tokens":10}');
  });

  it.each([
    ["/v1/responses", 2],
    ["/v1/responses?stream=true", 2],
    ["/openai/v1/responses", 2],
    ["/v1/chat/completions", 0],
    ["/v1/completions", 0],
    ["/v1/responses/resp_1", 0],
    ["/responses", 2],
    ["/v1/responses/", 2],
    ["/v1/responses/resp_1/cancel", 0],
    ["/v1/Responses", 0],
    ["", 0],
  ])("calls %s an API whose limit field is %d", (path, field) => {
    expect(mod.call("limitFieldForPath", path)).toBe(field);
  });
});

// ---------------------------------------------------------------------------------------------

describe("usage scanner", () => {
  const cutsAt = (...offsets: number[]) => {
    const b = Buffer.alloc(offsets.length * 4);
    offsets.forEach((o, i) => b.writeUInt32LE(o, i * 4));
    return new Uint8Array(b);
  };
  const scan = (body: string | Uint8Array, cuts: number[] = []) => mod.json<Json>("scanUsage", body, cutsAt(...cuts));

  const CHAT = JSON.stringify({
    id: "c", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: 'The "usage": {"total_tokens": 999} is text' }, finish_reason: "stop" }],
    usage: { prompt_tokens: 9, completion_tokens: 7, total_tokens: 16, prompt_tokens_details: { cached_tokens: 0 } },
  });
  const chunk = (o: object) => `data: ${JSON.stringify(o)}\n\n`;
  const SSE = [
    chunk({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "usage" } }], usage: null }),
    ": comment with a stray \" quote\n\n",
    chunk({ id: "c", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "\"usage\":{\"total_tokens\":5}" } }] }),
    chunk({ id: "c", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 } }),
    "data: [DONE]\n\n",
  ].join("");
  const RESPONSES = [
    "event: response.output_text.delta\n" + chunk({ type: "response.output_text.delta", delta: "hi" }),
    "event: response.completed\n" + chunk({ type: "response.completed", response: { id: "r", usage: { input_tokens: 11, output_tokens: 4, total_tokens: 15 } } }),
  ].join("");

  it.each([
    ["a chat completion", CHAT, 16],
    ["a stream with its usage chunk", SSE, 42],
    ["a responses stream (nested, input/output tokens)", RESPONSES, 15],
    ["pretty-printed JSON", JSON.stringify(JSON.parse(CHAT), null, 2), 16],
    ["CRLF framing", SSE.replace(/\n/g, "\r\n"), 42],
  ])("reads %s, however it is split", (_name, body, tokens) => {
    expect(usageRef(body)).toBe(tokens);
    expect(scan(body)).toMatchObject({ found: true, tokens });
    const bytes = Buffer.from(body);
    for (let cut = 1; cut < bytes.length; cut++) expect(scan(bytes, [cut]).tokens, `cut at ${cut}`).toBe(tokens);
    // Byte by byte.
    expect(scan(bytes, [...Array(bytes.length).keys()]).tokens).toBe(tokens);
  });

  it.each([
    ["no usage", '{"choices":[]}', -1, 0],
    ["a stream without usage", chunk({ choices: [{ delta: { content: "x" } }] }) + "data: [DONE]\n\n", -1, 0],
    ["usage null", '{"usage":null}', -1, 0],
    ["usage as a string value", '{"type":"usage","usage":"x"}', -1, 0],
    ["usage without counts", '{"usage":{"foo":1}}', -1, 1],
    ["negative counts", '{"usage":{"total_tokens":-3}}', -1, 1],
    ["prompt and completion only", '{"usage":{"prompt_tokens":3,"completion_tokens":4}}', 7, 0],
    ["the last of several (cumulative stream usage)", chunk({ usage: { total_tokens: 3 } }) + chunk({ usage: { total_tokens: 8 } }), 8, 0],
    ["an escaped key is not the usage", '{"\\u0075sage":{"total_tokens":3}}', -1, 0],
    ["an oversized usage object", `{"usage":{"total_tokens":1,"pad":"${"x".repeat(5000)}"}}`, -1, 1],
    ["a truncated usage object", '{"usage":{"total_tokens":1', -1, 0],
  ])("handles %s, however it is split", (_name, body, tokens, rejected) => {
    expect(scan(body)).toMatchObject({ tokens, rejected });
    const bytes = Buffer.from(body);
    for (let cut = 1; cut < bytes.length; cut += bytes.length > 200 ? 97 : 1) expect(scan(bytes, [cut]), `cut at ${cut}`).toMatchObject({ tokens, rejected });
    expect(scan(bytes, [1, 9, 10, 11, 30, 4000, 4100, 4108].filter((c) => c < bytes.length))).toMatchObject({ tokens, rejected });
  });

  it.each([
    ['{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}', 7, 0],
    ['{"total_tokens":3,"total_tokens":9}', 9, 0],
    // Any count out of range (the last of duplicates) makes the usage unreadable, not 0.
    ['{"total_tokens":3,"total_tokens":-1,"prompt_tokens":2}', -1, 1],
    ['{"total_tokens":1000000000001,"input_tokens":4,"output_tokens":1}', -1, 1],
    ['{"prompt_tokens":-3,"completion_tokens":4}', -1, 1],
    ['{"input_tokens":4,"output_tokens":1.5}', -1, 1],
    ['{"prompt_tokens":5}', 5, 0],
    ['{"total_tokens":1000000000000}', 1_000_000_000_000, 0],
    ['{"total_tokens":1234567890123456789}', -1, 1],
    ['{"total_tokens":12345678901234567890123}', -1, 1],
    ['{"total_tokens":0}', 0, 0],
    ['{"total_tokens":-0}', 0, 0],
    ['{"total_tokens":07}', -1, 1],
    ['{"total_tokens":1.0}', 1, 0],
    ['{"total_tokens":1e2}', 100, 0],
    ['{"total_tokens":1.5,"prompt_tokens":2}', -1, 1],
    ['{"total_tokens":"5"}', -1, 1],
    ['{"total_tokens":5 6}', -1, 1],
    ['{"total_tokens":5,}', -1, 1],
    ['{"total_tokens"5}', -1, 1],
    ['{}', -1, 1],
    ['{ }', -1, 1],
    [' { "total_tokens" :\t5 ,\r\n "x" : 1 } ', 5, 0],
    ['{"total\\u005ftokens":5}', 5, 0],
    ['{"\u00e9":1,"total_tokens":5}', 5, 0],
    ['{"\u0001":1,"total_tokens":5}', -1, 1],
    ['{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens":2}', 3, 0],
    ['{"prompt_tokens":1,"completion_tokens":2,"total_tokens":null}', 3, 0],
  ])("reads the usage object %s as JSON.parse does, however it is split", (usage, tokens, rejected) => {
    const body = `{"id":"c","usage":${usage}}`;
    if (rejected === 0) expect(usageRef(body) + 0).toBe(tokens); // + 0: JSON.parse reads -0
    const bytes = Buffer.from(body);
    for (let cut = 0; cut < bytes.length; cut++) expect(scan(bytes, cut > 0 ? [cut] : []), `cut at ${cut}`).toMatchObject({ tokens, rejected });
  });

  it("agrees with JSON.parse on random streams cut at random places", () => {
    const rand = prng(21);
    for (let i = 0; i < 300; i++) {
      const parts: string[] = [];
      for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) {
        const content = ["usage", '"usage":{', "}", "\\", "é", "data: ", "\n"][Math.floor(rand() * 7)].repeat(1 + Math.floor(rand() * 3));
        const o: Json = { choices: [{ delta: { content } }] };
        if (rand() < 0.3) o.usage = rand() < 0.2 ? null : { prompt_tokens: Math.floor(rand() * 100), completion_tokens: Math.floor(rand() * 100) };
        parts.push(chunk(o));
      }
      const body = parts.join("") + "data: [DONE]\n\n";
      const bytes = Buffer.from(body);
      const cuts = [...Array(Math.floor(rand() * 8))].map(() => Math.floor(rand() * bytes.length)).sort((a, b) => a - b);
      expect(scan(bytes, cuts).tokens, body).toBe(usageRef(body));
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("header values", () => {
  it("prints durations as Go's time.Duration does, at millisecond precision", () => {
    const fixed = [0, 1, 20, 999, 1000, 1001, 1500, 1050, 6667, 59_999, 60_000, 360_000, 90_500, 3_600_000, 3_723_004, 86_400_000 * 3];
    for (const ms of fixed) expect(mod.text("duration", BigInt(ms)), String(ms)).toBe(goDuration(ms));
    expect(mod.text("duration", 360_000n)).toBe("6m0s");
    expect(mod.text("duration", 20n)).toBe("20ms");
    expect(mod.text("duration", -5n)).toBe("0s");
    const rand = prng(5);
    for (let i = 0; i < 2000; i++) {
      const ms = Math.floor(rand() ** 3 * 1e10);
      expect(mod.text("duration", BigInt(ms))).toBe(goDuration(ms));
    }
  });

  it("writes counts in decimal (a debt as 0) and retry-after in whole seconds, at least 1", () => {
    expect(mod.text("decimal", 0n)).toBe("0");
    expect(mod.text("decimal", -3n)).toBe("0");
    expect(mod.text("decimal", 9_223_372_036_854_775_807n)).toBe("9223372036854775807");
    expect([0, 1, 999, 1000, 1001, 12_000, 12_001].map((ms) => mod.num("retryAfter", BigInt(ms)))).toEqual([1n, 1n, 1n, 1n, 2n, 12n, 13n]);
  });
});

describe("tables", () => {
  const readme = () => read("plugins/token-bucket/README.md");

  it("answers every error in OpenAI's shape, and the README lists the same errors", () => {
    const rows = mod.json<Array<[string, number, string, string, string]>>("errors");
    for (const [, status, type, code, body] of rows) {
      const doc = JSON.parse(body) as { error: Json };
      expect(Object.keys(doc.error)).toEqual(["message", "type", "param", "code"]);
      expect(doc.error).toMatchObject({ message: "msg", type, code });
      expect([400, 429, 503]).toContain(status);
    }
    for (const [name, status, type, code] of rows) {
      expect(readme(), name).toContain(`| \`token_bucket.${name}\` | ${status} | \`${type}\` | \`${code}\``);
    }
  });

  it("defines the stats the README's table lists, in the same order, with the same meanings", () => {
    // The module's descriptions are the README's rows without the code marks.
    const stats = mod.json<Array<[string, string]>>("stats").map(([n, d]) => [`token_bucket.${n}`, d]);
    const section = readme().split("## Metrics")[1] ?? "";
    const listed = [...section.matchAll(/^\| `(token_bucket\.[^`]+)` \| (.*) \|$/gm)].map((m) => [m[1], m[2].replaceAll("`", "")]);
    expect(listed).toEqual(stats);
  });
});
