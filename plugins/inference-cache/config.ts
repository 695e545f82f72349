// The filter's JSON configuration: parse, validate, derive. Never throws; the first problem
// becomes one message `<field>: expected <what>, got <value>` that onConfigure logs at critical
// level before refusing to start. Unknown keys are errors; every field has a default, so `{}` (or
// an empty configuration) is a working cache.

import { Checker, ObjectsByName, parseConfigDocument, quote } from "../../assembly/config/checker";
import { HEADER_NAME, isHeaderName, isModelName, isVisibleAscii255, MODEL_NAME } from "../../assembly/config/values";
import { canonicalJson, JsonLimits, JsonValue, parseJsonText } from "../../assembly/json/index";
import { KeyRules, MAX_DEFAULTS, STREAM_FIELD } from "./key";

export const MAX_SLOTS: i64 = 65_536;
export const MIN_ENTRY_BYTES: i64 = 4096;
export const MAX_ENTRY_BYTES: i64 = 16 << 20;
/** Most shared data the local tier may take (slots × max_entry_bytes). */
export const MAX_TABLE_BYTES: i64 = 1 << 30;
export const MAX_TTL_MS: i64 = 7 * 86_400_000;
export const MAX_BODY_BYTES_LIMIT: i64 = 64 << 20;
export const MAX_DROP_FIELDS: i32 = 32;
export const MAX_MODELS: i32 = 256;
const MAX_DEFAULT_VALUE_BYTES: i32 = 1024;

/**
 * The non-semantic fields left out by default: OpenAI's end-user identifiers (`user`, its
 * successor `safety_identifier`), stored-completion tags (`metadata`), stream framing
 * (`stream_options`), the routing hint `prompt_cache_key`, and vLLM's `request_id`.
 */
export const DEFAULT_DROP_FIELDS: string[] = [
  "user", "metadata", "stream_options", "request_id", "safety_identifier", "prompt_cache_key",
];

/**
 * The documented defaults of OpenAI's Create chat completion and Create completion endpoints
 * (platform.openai.com/docs/api-reference): temperature 1, top_p 1, n 1, presence_penalty 0,
 * frequency_penalty 0. Servers that take their defaults elsewhere (vLLM's generation_config) need
 * their own values here, or `{}`.
 */
export const DEFAULT_DEFAULTS = "{\"temperature\":1,\"top_p\":1,\"n\":1,\"presence_penalty\":0,\"frequency_penalty\":0}";

export const DEFAULT_KEY_PREFIX = "aigw:cache:";

const TOP_KEYS: string[] = [
  "slots", "max_entry_bytes", "ttl_ms", "max_body_bytes", "max_json_depth", "key_only",
  "vary_on_tenant", "tenant_header", "drop_fields", "defaults", "models", "shared_tier",
];
const MODEL_KEYS: string[] = ["shared", "cache_nondeterministic", "ttl_ms"];
const MODELS = new ObjectsByName("models", 0, MAX_MODELS, isModelName, MODEL_NAME,
  "an object with any of " + MODEL_KEYS.join(", "), MODEL_KEYS);
const SHARED_TIER_KEYS: string[] = ["enabled", "cluster", "timeout_ms", "key_prefix"];

const FIELD_NAME = "1-64 letters, digits, '_', '-', '.'";

/** What the cache does for one model (an unlisted model gets `CacheConfig.otherModels`). */
export class ModelPolicy {
  constructor(
    public name: string,
    /** Entries shared across tenants (always true when vary_on_tenant is off). */
    public shared: bool,
    /** Cache requests that are not deterministic (temperature other than 0 and no seed). */
    public cacheNondeterministic: bool,
    public ttlMs: u32,
  ) {}
}

/** The Redis (Webdis) tier. */
export class SharedTier {
  enabled: bool = true;
  cluster: string = "";
  timeoutMs: u32 = 200;
  keyPrefix: string = DEFAULT_KEY_PREFIX;
}

const OTHER_MODELS: i32 = -1;
const NOT_LOOKED_UP: i32 = -2;

export class CacheConfig {
  slots: u32 = 1024;
  maxEntryBytes: u32 = 256 << 10;
  ttlMs: u32 = 300_000;
  maxBodyBytes: u32 = 1 << 20;
  maxJsonDepth: i32 = 64;
  keyOnly: bool = false;
  varyOnTenant: bool = true;
  /** Identity header whose SHA-256 is the tenant partition (as the router's tenant_header). */
  tenantHeader: string = "authorization";
  /** drop_fields and defaults, as the key uses them. */
  rules: KeyRules = new KeyRules();
  models: ModelPolicy[] = [];
  /** The policy of models not in `models`. */
  otherModels: ModelPolicy = new ModelPolicy("", false, false, 300_000);
  /** Null when the shared tier is not configured or not enabled. */
  sharedTier: SharedTier | null = null;
  /** JSON limits for request bodies (derived from max_json_depth and max_body_bytes). */
  bodyLimits: JsonLimits = new JsonLimits();
  private byName: Map<string, i32> = new Map<string, i32>();

  /** The policy of model `name` ("" when no model was resolved). */
  modelPolicy(name: string): ModelPolicy {
    // The stage hands in the same string for a repeated model (Exchange.routedModel reuses it):
    // the last one is held, so no other string can have its address, and its index is kept.
    let i = this.lastIndex;
    if (i == NOT_LOOKED_UP || changetype<usize>(name) != changetype<usize>(this.lastModel)) {
      i = this.byName.has(name) ? this.byName.get(name) : OTHER_MODELS;
      this.lastModel = name;
      this.lastIndex = i;
    }
    return i == OTHER_MODELS ? this.otherModels : this.models[i];
  }

  addModel(model: ModelPolicy): void {
    this.byName.set(model.name, this.models.length);
    this.models.push(model);
    this.lastIndex = NOT_LOOKED_UP;
  }

  // The last model looked up, and its index in `models` (or OTHER_MODELS, or NOT_LOOKED_UP).
  private lastModel: string = "";
  private lastIndex: i32 = NOT_LOOKED_UP;
}

/** The parsed configuration, or the message of the first problem. */
export class CacheConfigResult {
  constructor(public config: CacheConfig | null, public error: string) {}
}

/** Parses and validates `bytes` (blank means `{}`), then derives the configuration. */
export function parseConfig(bytes: ArrayBuffer): CacheConfigResult {
  const doc = parseConfigDocument(bytes, "a JSON object", true);
  if (doc.root === null) return new CacheConfigResult(null, doc.error);
  return parseCacheConfig(doc.root as JsonValue);
}

/** Validates the configuration object `root`, then derives the configuration. */
export function parseCacheConfig(root: JsonValue): CacheConfigResult {
  const c = new Checker();
  c.keys(root, "", TOP_KEYS);
  const cfg = new CacheConfig();
  cfg.slots = <u32>c.integer(root, "slots", "", cfg.slots, 1, MAX_SLOTS);
  cfg.maxEntryBytes = <u32>c.integer(root, "max_entry_bytes", "", cfg.maxEntryBytes, MIN_ENTRY_BYTES, MAX_ENTRY_BYTES);
  cfg.ttlMs = <u32>c.integer(root, "ttl_ms", "", cfg.ttlMs, 1000, MAX_TTL_MS);
  cfg.maxBodyBytes = <u32>c.integer(root, "max_body_bytes", "", cfg.maxBodyBytes, 1, MAX_BODY_BYTES_LIMIT);
  cfg.maxJsonDepth = <i32>c.integer(root, "max_json_depth", "", cfg.maxJsonDepth, 1, 1024);
  cfg.keyOnly = c.bool(root, "key_only", "", cfg.keyOnly);
  cfg.varyOnTenant = c.bool(root, "vary_on_tenant", "", cfg.varyOnTenant);
  cfg.tenantHeader = c.string(root, "tenant_header", "", cfg.tenantHeader, isHeaderName, HEADER_NAME);
  if (!c.failed && <i64>cfg.slots * <i64>cfg.maxEntryBytes > MAX_TABLE_BYTES) {
    c.fail("max_entry_bytes", "slots × max_entry_bytes at most " + MAX_TABLE_BYTES.toString() + " bytes of shared data",
      cfg.slots.toString() + " × " + cfg.maxEntryBytes.toString());
  }
  parseDropFields(c, root, cfg.rules);
  parseDefaults(c, root, cfg.rules);
  cfg.otherModels = new ModelPolicy("", !cfg.varyOnTenant, false, cfg.ttlMs);
  parseModels(c, root, cfg);
  parseSharedTier(c, root, cfg);
  if (c.failed) return new CacheConfigResult(null, c.error);
  cfg.bodyLimits.maxDepth = cfg.maxJsonDepth;
  cfg.bodyLimits.maxBytes = <i32>cfg.maxBodyBytes;
  return new CacheConfigResult(cfg, "");
}

function parseDropFields(c: Checker, root: JsonValue, rules: KeyRules): void {
  const v = root.get("drop_fields");
  if (v === null) {
    rules.dropFields = DEFAULT_DROP_FIELDS.slice(0);
    return;
  }
  if (c.failed) return;
  const expected = "a list of up to " + MAX_DROP_FIELDS.toString() + " distinct field names";
  if (!v.isArray() || v.length > MAX_DROP_FIELDS) {
    c.failValue("drop_fields", expected, v);
    return;
  }
  const out = new Array<string>();
  for (let i = 0; i < v.length; i++) {
    const item = v.at(i) as JsonValue;
    const field = "drop_fields[" + i.toString() + "]";
    const name = item.isString() ? item.asString() : "";
    if (!isFieldName(name)) {
      c.failValue(field, "a field name: " + FIELD_NAME, item);
      return;
    }
    if (name == STREAM_FIELD) {
      c.failValue(field, "a field other than \"stream\" (always left out of the key)", item);
      return;
    }
    if (out.includes(name)) {
      c.failValue(field, "each field once", item);
      return;
    }
    out.push(name);
  }
  rules.dropFields = out;
}

function parseDefaults(c: Checker, root: JsonValue, rules: KeyRules): void {
  if (c.failed) return;
  let v = root.get("defaults");
  if (v === null) v = parseJsonText(DEFAULT_DEFAULTS).value;
  if (v === null) return;
  const expected = "an object of up to " + MAX_DEFAULTS.toString() + " field names to their default values";
  if (!v.isObject() || v.length > MAX_DEFAULTS) {
    c.failValue("defaults", expected, v);
    return;
  }
  c.keys(v, "defaults", null);
  for (let i = 0; i < v.length && !c.failed; i++) {
    const name = v.keyAt(i);
    const field = "defaults." + name;
    if (!isFieldName(name)) {
      c.fail(field, "a field name: " + FIELD_NAME, quote(name));
      return;
    }
    if (name == STREAM_FIELD) {
      c.fail(field, "a field other than \"stream\" (always left out of the key)", quote(name));
      return;
    }
    if (rules.dropFields.includes(name)) {
      c.fail(field, "a field that drop_fields does not drop", quote(name));
      return;
    }
    const value = v.valueAt(i) as JsonValue;
    const canonical = canonicalJson(value);
    if (canonical.byteLength > MAX_DEFAULT_VALUE_BYTES) {
      c.failValue(field, "a value of at most " + MAX_DEFAULT_VALUE_BYTES.toString() + " bytes", value);
      return;
    }
    rules.addDefault(name, canonical);
  }
}

function parseModels(c: Checker, root: JsonValue, cfg: CacheConfig): void {
  const models = c.objectsByName(root, "models", "", MODELS);
  if (models === null) return;
  for (let i = 0; i < models.length && !c.failed; i++) {
    const name = models.keyAt(i);
    const field = "models." + name;
    const spec = models.valueAt(i) as JsonValue;
    const shared = c.bool(spec, "shared", field, false);
    const nondeterministic = c.bool(spec, "cache_nondeterministic", field, false);
    const ttl = <u32>c.integer(spec, "ttl_ms", field, cfg.ttlMs, 1000, MAX_TTL_MS);
    if (c.failed) return;
    cfg.addModel(new ModelPolicy(name, shared || !cfg.varyOnTenant, nondeterministic, ttl));
  }
}

function parseSharedTier(c: Checker, root: JsonValue, cfg: CacheConfig): void {
  const v = c.object(root, "shared_tier", "", "an object with \"cluster\"");
  if (v === null || c.failed) return;
  c.keys(v, "shared_tier", SHARED_TIER_KEYS);
  const tier = new SharedTier();
  tier.enabled = c.bool(v, "enabled", "shared_tier", tier.enabled);
  if (!c.failed && !v.has("cluster")) c.fail("shared_tier.cluster", "the Envoy cluster of Webdis", "nothing");
  tier.cluster = c.string(v, "cluster", "shared_tier", "", isVisibleAscii255, "a cluster name: 1-255 visible ASCII characters");
  tier.timeoutMs = <u32>c.integer(v, "timeout_ms", "shared_tier", tier.timeoutMs, 1, 10_000);
  tier.keyPrefix = c.string(v, "key_prefix", "shared_tier", tier.keyPrefix, isKeyPrefix,
    "up to 64 letters, digits, ':', '_', '-', '.'");
  if (!c.failed && tier.enabled) cfg.sharedTier = tier;
}

/** A top-level request field name (OpenAI's are snake_case ASCII). */
export function isFieldName(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (!(isWordChar(ch) || ch == 0x2d || ch == 0x2e)) return false;
  }
  return true;
}

/** Redis key prefixes go into a Webdis URL path segment. */
function isKeyPrefix(s: string): bool {
  if (s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (!(isWordChar(ch) || ch == 0x2d || ch == 0x2e || ch == 0x3a)) return false;
  }
  return true;
}

function isWordChar(ch: i32): bool {
  return (ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a) || ch == 0x5f;
}
