// The filter's JSON configuration: parse, validate, derive. Never throws; the first problem
// becomes one message `<field>: expected <what>, got <value>` that onConfigure logs at critical
// level before refusing to start. Unknown keys are errors. Limits are named per model in
// `models`, and for every other model in `default`; one of the two is required.

import { Checker, joinField, ObjectsByName, parseConfigDocument, quote } from "../../assembly/config/checker";
import { HEADER_NAME, MODEL_NAME, isHeaderName, isModelName } from "../../assembly/config/values";
import { JsonLimits, JsonValue } from "../../assembly/json/index";
import { Limit, MAX_LIMIT } from "../../assembly/ratelimit/bucket";
import { BucketLimits } from "../../assembly/ratelimit/table";

export const MAX_SLOTS: i64 = 65_536;
export const MAX_CAS_RETRIES: i64 = 1000;
export const MAX_BODY_BYTES_LIMIT: i64 = 64 << 20;
export const MAX_MODELS: i32 = 256;
export const MAX_PROMPT_FIELDS: i32 = 16;
/** Largest max_tokens (and default_max_tokens) taken at face value. */
export const MAX_TOKENS_VALUE: i64 = 1_000_000_000_000;

/** The request fields whose text the prompt estimate counts, unless configured otherwise. */
export const DEFAULT_PROMPT_FIELDS: string[] = ["messages", "prompt", "input", "instructions", "tools"];

const TOP_KEYS: string[] = [
  "tenant_header", "shadow", "failure_mode_deny", "slots", "cas_retries", "max_body_bytes", "max_json_depth",
  "bytes_per_token", "default_max_tokens", "clamp_max_tokens", "clamp_min_tokens", "prompt_fields", "models", "default",
];
const MODEL_KEYS: string[] = ["per_version", "tenant", "total"];
/** `default` also says whether each model it covers has buckets of its own. */
const DEFAULT_KEYS: string[] = ["per_model", "per_version", "tenant", "total"];
const MODELS = new ObjectsByName("models", 0, MAX_MODELS, isModelName, MODEL_NAME,
  "an object with any of " + MODEL_KEYS.join(", "), MODEL_KEYS);
const LIMIT_KEYS: string[] = ["requests_per_minute", "requests_burst", "tokens_per_minute", "tokens_burst"];

/** The buckets of one model (`default`: of every model not listed). */
export class ModelLimits {
  constructor(
    /** "" for `default`. */
    public name: string,
    /** Versions get buckets of their own (the router's resolved version). */
    public perVersion: bool,
    /** Each tenant's bucket; null: none. */
    public tenant: BucketLimits | null,
    /** The model's bucket across tenants; null: none. */
    public total: BucketLimits | null,
    /**
     * `default` only: each model it covers gets buckets of its own (true), or all of them share
     * one set (false), so that new model names are no new buckets.
     */
    public perModel: bool = true,
  ) {}

  /** The model name that keys `model`'s buckets: "" for every model of a shared `default`. */
  bucketModel(model: string): string {
    return this.perModel ? model : "";
  }

  /** Whether any bucket applies. */
  get limited(): bool {
    return this.tenant !== null || this.total !== null;
  }
}

export class TokenBucketConfig {
  /** Identity header whose SHA-256 is the tenant (as the router's and the cache's tenant_header). */
  tenantHeader: string = "authorization";
  shadow: bool = false;
  failureModeDeny: bool = false;
  slots: u32 = 4096;
  casRetries: i32 = 16;
  maxBodyBytes: u32 = 1 << 20;
  maxJsonDepth: i32 = 64;
  bytesPerToken: i64 = 4;
  defaultMaxTokens: i64 = 1024;
  clampMaxTokens: bool = false;
  clampMinTokens: i64 = 16;
  promptFields: string[] = DEFAULT_PROMPT_FIELDS.slice(0);
  models: ModelLimits[] = [];
  /** Limits of models not in `models` (`default`); null: they are not limited. */
  otherModels: ModelLimits | null = null;
  /** JSON limits for request bodies (from max_json_depth and max_body_bytes). */
  bodyLimits: JsonLimits = new JsonLimits();
  private byName: Map<string, i32> = new Map<string, i32>();
  // The last model asked for and its limits: requests come in runs to one model, and a repeat
  // then costs a string comparison instead of two hash lookups.
  private lastName: string | null = null;
  private lastLimits: ModelLimits | null = null;

  /** The limits of model `name` ("" when none was resolved); null when it is not limited. */
  limitsOf(name: string): ModelLimits | null {
    const last = this.lastName;
    if (last !== null && last == name) return this.lastLimits;
    const limits = this.byName.has(name) ? unchecked(this.models[this.byName.get(name)]) : this.otherModels;
    this.lastName = name;
    this.lastLimits = limits;
    return limits;
  }

  addModel(model: ModelLimits): void {
    this.lastName = null;
    this.byName.set(model.name, this.models.length);
    this.models.push(model);
  }
}

export class TokenBucketConfigResult {
  constructor(public config: TokenBucketConfig | null, public error: string) {}
}

export const BLANK_EXPECTATION = "a JSON object with \"models\" or \"default\"";

/** Parses and validates `bytes`, then derives the configuration. */
export function parseConfig(bytes: ArrayBuffer): TokenBucketConfigResult {
  const doc = parseConfigDocument(bytes, BLANK_EXPECTATION);
  if (doc.root === null) return new TokenBucketConfigResult(null, doc.error);
  return parseTokenBucketConfig(doc.root as JsonValue);
}

/** Validates the configuration object `root`, then derives the configuration. */
export function parseTokenBucketConfig(root: JsonValue): TokenBucketConfigResult {
  const c = new Checker();
  c.keys(root, "", TOP_KEYS);
  const cfg = new TokenBucketConfig();
  cfg.tenantHeader = c.string(root, "tenant_header", "", cfg.tenantHeader, isHeaderName, HEADER_NAME);
  cfg.shadow = c.bool(root, "shadow", "", cfg.shadow);
  cfg.failureModeDeny = c.bool(root, "failure_mode_deny", "", cfg.failureModeDeny);
  cfg.slots = <u32>c.integer(root, "slots", "", cfg.slots, 1, MAX_SLOTS);
  cfg.casRetries = <i32>c.integer(root, "cas_retries", "", cfg.casRetries, 0, MAX_CAS_RETRIES);
  cfg.maxBodyBytes = <u32>c.integer(root, "max_body_bytes", "", cfg.maxBodyBytes, 1, MAX_BODY_BYTES_LIMIT);
  cfg.maxJsonDepth = <i32>c.integer(root, "max_json_depth", "", cfg.maxJsonDepth, 1, 1024);
  cfg.bytesPerToken = c.integer(root, "bytes_per_token", "", cfg.bytesPerToken, 1, 1024);
  cfg.defaultMaxTokens = c.integer(root, "default_max_tokens", "", cfg.defaultMaxTokens, 0, MAX_TOKENS_VALUE);
  cfg.clampMaxTokens = c.bool(root, "clamp_max_tokens", "", cfg.clampMaxTokens);
  cfg.clampMinTokens = c.integer(root, "clamp_min_tokens", "", cfg.clampMinTokens, 1, MAX_TOKENS_VALUE);
  parsePromptFields(c, root, cfg);
  parseModels(c, root, cfg);
  const def = c.object(root, "default", "", "an object with any of " + DEFAULT_KEYS.join(", "));
  if (def !== null) cfg.otherModels = parseModel(c, def, "default", "", true);
  if (!c.failed && !root.has("models") && !root.has("default")) {
    c.fail("models", "limits per model, or a \"default\" for every model", "neither \"models\" nor \"default\"");
  }
  if (c.failed) return new TokenBucketConfigResult(null, c.error);
  cfg.bodyLimits.maxDepth = cfg.maxJsonDepth;
  cfg.bodyLimits.maxBytes = <i32>cfg.maxBodyBytes;
  return new TokenBucketConfigResult(cfg, "");
}

function parsePromptFields(c: Checker, root: JsonValue, cfg: TokenBucketConfig): void {
  const v = root.get("prompt_fields");
  if (v === null || c.failed) return;
  const expected = "a list of up to " + MAX_PROMPT_FIELDS.toString() + " distinct field names";
  if (!v.isArray() || v.length > MAX_PROMPT_FIELDS) {
    c.failValue("prompt_fields", expected, v);
    return;
  }
  const out = new Array<string>();
  for (let i = 0; i < v.length; i++) {
    const item = v.at(i) as JsonValue;
    const field = "prompt_fields[" + i.toString() + "]";
    const name = item.isString() ? item.asString() : "";
    if (!isFieldName(name)) {
      c.failValue(field, "a field name: 1-64 letters, digits, '_', '-', '.'", item);
      return;
    }
    if (out.includes(name)) {
      c.failValue(field, "each field once", item);
      return;
    }
    out.push(name);
  }
  cfg.promptFields = out;
}

function parseModels(c: Checker, root: JsonValue, cfg: TokenBucketConfig): void {
  const models = c.objectsByName(root, "models", "", MODELS);
  if (models === null) return;
  for (let i = 0; i < models.length && !c.failed; i++) {
    const name = models.keyAt(i);
    const model = parseModel(c, models.valueAt(i) as JsonValue, "models." + name, name);
    if (model !== null) cfg.addModel(model);
  }
}

function parseModel(c: Checker, spec: JsonValue, field: string, name: string, isDefault: bool = false): ModelLimits | null {
  c.keys(spec, field, isDefault ? DEFAULT_KEYS : MODEL_KEYS);
  const perModel = isDefault ? c.bool(spec, "per_model", field, true) : true;
  const perVersion = c.bool(spec, "per_version", field, false);
  // A version is one model's: with every model sharing one set, versions of one name in different
  // models would share buckets while another name got its own.
  if (!perModel && perVersion && !c.failed) c.fail(joinField(field, "per_version"), "false beside \"per_model\": false (a version is one model's)", "true");
  const tenant = parseLimits(c, spec, "tenant", field);
  const total = parseLimits(c, spec, "total", field);
  if (c.failed) return null;
  return new ModelLimits(name, perVersion, tenant, total, perModel);
}

function parseLimits(c: Checker, spec: JsonValue, key: string, parent: string): BucketLimits | null {
  const field = joinField(parent, key);
  const expected = "an object with requests_per_minute or tokens_per_minute (and optional requests_burst, tokens_burst)";
  const v = c.object(spec, key, parent, expected);
  if (v === null || c.failed) return null;
  c.keys(v, field, LIMIT_KEYS);
  const requests = parseLimit(c, v, field, "requests");
  const tokens = parseLimit(c, v, field, "tokens");
  if (c.failed) return null;
  if (requests === null && tokens === null) {
    c.failValue(field, expected, v);
    return null;
  }
  return new BucketLimits(requests, tokens);
}

function parseLimit(c: Checker, v: JsonValue, field: string, dim: string): Limit | null {
  const rateKey = dim + "_per_minute";
  const burstKey = dim + "_burst";
  const rate = c.integer(v, rateKey, field, 0, 1, MAX_LIMIT);
  const burst = c.integer(v, burstKey, field, rate, 1, MAX_LIMIT);
  if (c.failed) return null;
  if (!v.has(rateKey)) {
    if (v.has(burstKey)) c.fail(joinField(field, burstKey), rateKey + " beside it", (v.get(burstKey) as JsonValue).raw());
    return null;
  }
  return new Limit(rate, burst);
}

/** A top-level request field name (OpenAI's are snake_case ASCII). */
export function isFieldName(s: string): bool {
  if (s.length == 0 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    const word = (ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x61 && ch <= 0x7a) || ch == 0x5f;
    if (!(word || ch == 0x2d || ch == 0x2e)) return false;
  }
  return true;
}
