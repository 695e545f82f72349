// The filter's JSON configuration: parse, validate, derive. Never throws; the first problem
// becomes one message `<field>: expected <what>, got <value>` that onConfigure logs at critical
// level before refusing to start. Unknown keys are errors. The result is a resolved routing
// table: models and versions by index, bucket ranges, fallback indices, compiled path templates.

import { Checker, describe, ObjectsByName, parseConfigDocument, quote } from "../../assembly/config/checker";
import {
  FRAMING_HEADERS, HEADER_NAME, MODEL_NAME, VERSION_NAME, isAlnum, isHeaderName, isHeaderNameOrEmpty, isModelName, isVersionName,
  isVisibleAscii255,
} from "../../assembly/config/values";
import { FNV64_OFFSET, fnv1a64Update } from "../../assembly/hash/fnv";
import { JsonLimits, JsonValue } from "../../assembly/json/index";
import { BUCKETS_PER_PERCENT, ModelEntry, VersionEntry } from "./resolve";
import { KNOWN_ONLY, PathTemplate, builtinTemplates, parseTemplate } from "./path-template";
import { Source } from "./sources";

// The router's model and version headers are the pipeline's contract between separate entries.
import { MODEL_HEADER, TENANT_HEADER, VERSION_HEADER } from "../../assembly/pipeline/exchange";
export { MODEL_HEADER, TENANT_HEADER, VERSION_HEADER };
/** Shortest `health_refresh_ms` besides 0: a tick that often on every worker, as warmup-health's `tick_ms`. */
export const MIN_HEALTH_REFRESH_MS: u32 = 100;

/** What keeps a client on one version of a split. */
export enum StickyKey { None, Tenant, Header }

export const MAX_MODELS: i32 = 256;
export const MAX_VERSIONS: i32 = 16;
export const MAX_ALIASES: i32 = 32;
export const MAX_TEMPLATES: i32 = 32;
const MAX_BODY_BYTES_LIMIT: i64 = 64 << 20;

const TOP_KEYS: string[] = [
  "models", "sources", "model_header", "version_header", "path_templates", "max_body_bytes",
  "max_json_depth", "cluster_header", "default_model", "rewrite_body_model", "sticky_key",
  "sticky_header", "tenant_header", "tenant_hex_chars", "anonymous_tenant", "absent_state_ready",
  "health_refresh_ms", "retry_after_s", "list_models_path", "list_models_hide_not_ready", "owned_by",
  "model_headers",
];
const MODELS = new ObjectsByName("models", 1, MAX_MODELS, isModelName, MODEL_NAME, "an object with \"versions\"",
  ["versions", "aliases", "owned_by", "created"]);
const VERSIONS = new ObjectsByName("versions", 1, MAX_VERSIONS, isVersionName, "a version name: " + VERSION_NAME,
  "an object with \"cluster\"", ["cluster", "upstream_model", "weight", "fallback"]);

/** Most models `findModelAt` compares one by one rather than hash. */
const LINEAR_MODELS: i32 = 8;

const ANONYMOUS_TENANT = "anonymous";

export class RouterConfig {
  sources: Source[] = [Source.Header, Source.Path, Source.Body];
  modelHeader: string = "x-model";
  versionHeader: string = "x-model-version";
  templates: PathTemplate[] = [];
  /**
   * The templates' literal prefixes, none of them starting with another (the shorter one decides
   * for both): what `:path` is checked against before any template is matched.
   */
  templatePrefixes: string[] = [];
  maxBodyBytes: u32 = 1 << 20;
  maxJsonDepth: i32 = 64;
  clusterHeader: string = "x-ai-cluster";
  /** `clusterHeader` as UTF-8 (set again once the configuration is read). */
  clusterHeaderBytes: ArrayBuffer = String.UTF8.encode("x-ai-cluster");
  /**
   * Whether x-ai-model, x-ai-model-version and x-ai-tenant go upstream. Each costs Envoy about
   * 2 µs per request (bench/README.md); inside one pipeline later stages read the Exchange.
   */
  modelHeaders: bool = true;
  /** Index of the default model, or -1. */
  defaultModel: i32 = -1;
  rewriteBodyModel: bool = false;
  stickyKey: StickyKey = StickyKey.None;
  stickyHeader: string = "";
  /** "" means no tenant: x-ai-tenant is never set. */
  tenantHeader: string = "authorization";
  tenantHexChars: i32 = 16;
  /** x-ai-tenant when the identity header is absent; "" leaves the header out. */
  anonymousTenant: string = ANONYMOUS_TENANT;
  /** `anonymousTenant` as UTF-8. */
  anonymousTenantBytes: ArrayBuffer = String.UTF8.encode(ANONYMOUS_TENANT);
  absentStateReady: bool = true;
  healthRefreshMs: u32 = 1000;
  retryAfterS: u32 = 5;
  /** "" turns the model list off. */
  listModelsPath: string = "/v1/models";
  listModelsHideNotReady: bool = false;
  ownedBy: string = "ai-gateway";
  models: ModelEntry[] = [];
  private byName: Map<string, i32> = new Map<string, i32>();
  private byHash: Map<u64, i32> = new Map<u64, i32>();

  /** The configured models' names, each with its index. */
  get names(): Map<string, i32> {
    return this.byName;
  }

  /** Index of the model called `name`, or -1. */
  findModel(name: string): i32 {
    return this.byName.has(name) ? this.byName.get(name) : -1;
  }

  /**
   * Index of the model whose UTF-8 name is the `len` bytes at `ptr` (read in place from a
   * request), or -1. Up to LINEAR_MODELS models, a comparison with each (lengths first: most
   * differ); beyond, a hash of the bytes, then a comparison with the one candidate. The hash map's
   * two lookups cost more than a few comparisons, and most gateways route a handful of models.
   */
  findModelAt(ptr: usize, len: i32): i32 {
    const models = this.models;
    const n = models.length;
    if (n <= LINEAR_MODELS) {
      for (let i = 0; i < n; i++) {
        const name = unchecked(models[i]).nameBytes;
        if (name.byteLength == len && memory.compare(changetype<usize>(name), ptr, <usize>len) == 0) return i;
      }
      return -1;
    }
    const h = fnv1a64Update(FNV64_OFFSET, ptr, <usize>len);
    if (!this.byHash.has(h)) return -1;
    const m = this.byHash.get(h);
    const name = unchecked(this.models[m]).nameBytes;
    return name.byteLength == len && memory.compare(changetype<usize>(name), ptr, <usize>len) == 0 ? m : -1;
  }

  addModel(model: ModelEntry): void {
    // Two names with one hash (never seen with 64 bits) keep the first: the other is then found
    // by `findModel` only, which the router falls back to when `findModelAt` finds nothing.
    const h = fnv1a64Update(FNV64_OFFSET, changetype<usize>(model.nameBytes), <usize>model.nameBytes.byteLength);
    if (!this.byHash.has(h)) this.byHash.set(h, this.models.length);
    this.byName.set(model.name, this.models.length);
    this.models.push(model);
  }

  /** JSON limits for request bodies (derived from max_json_depth and max_body_bytes). */
  bodyLimits: JsonLimits = new JsonLimits();
}

/** The parsed configuration, or the message of the first problem. */
export class ConfigResult {
  constructor(public config: RouterConfig | null, public error: string) {}
}

/** Parses and validates `bytes`, then derives the routing table. */
export function parseConfig(bytes: ArrayBuffer): ConfigResult {
  const doc = parseConfigDocument(bytes, "a JSON object with \"models\"");
  if (doc.root === null) return new ConfigResult(null, doc.error);
  return parseRouterConfig(doc.root as JsonValue);
}

/** Validates the configuration object `root`, then derives the routing table. */
export function parseRouterConfig(root: JsonValue): ConfigResult {
  const c = new Checker();
  c.keys(root, "", TOP_KEYS);

  const cfg = new RouterConfig();
  cfg.sources = parseSources(c, root);
  cfg.modelHeader = c.string(root, "model_header", "", cfg.modelHeader, isHeaderName, HEADER_NAME);
  cfg.versionHeader = c.string(root, "version_header", "", cfg.versionHeader, isHeaderNameOrEmpty, HEADER_NAME + " or \"\"");
  cfg.templates = parseTemplates(c, root);
  cfg.templatePrefixes = distinctPrefixes(cfg.templates);
  cfg.maxBodyBytes = <u32>c.integer(root, "max_body_bytes", "", cfg.maxBodyBytes, 1, MAX_BODY_BYTES_LIMIT);
  cfg.maxJsonDepth = <i32>c.integer(root, "max_json_depth", "", cfg.maxJsonDepth, 1, 1024);
  cfg.clusterHeader = c.string(root, "cluster_header", "", cfg.clusterHeader, isHeaderName, HEADER_NAME);
  cfg.rewriteBodyModel = c.bool(root, "rewrite_body_model", "", cfg.rewriteBodyModel);
  cfg.modelHeaders = c.bool(root, "model_headers", "", cfg.modelHeaders);
  const sticky = c.string(root, "sticky_key", "", "none", isStickyKey, "\"none\", \"tenant\" or \"header\"");
  cfg.stickyKey = sticky == "tenant" ? StickyKey.Tenant : sticky == "header" ? StickyKey.Header : StickyKey.None;
  cfg.stickyHeader = c.string(root, "sticky_header", "", "", isHeaderNameOrEmpty, HEADER_NAME);
  cfg.tenantHeader = c.string(root, "tenant_header", "", cfg.tenantHeader, isHeaderNameOrEmpty, HEADER_NAME + " or \"\"");
  cfg.tenantHexChars = <i32>c.integer(root, "tenant_hex_chars", "", cfg.tenantHexChars, 8, 64);
  cfg.anonymousTenant = c.string(root, "anonymous_tenant", "", cfg.anonymousTenant, isAnonymousTenant,
    "\"\" or up to 64 letters, digits, '.', '_', '-' with at least one that is not a hex digit");
  cfg.anonymousTenantBytes = String.UTF8.encode(cfg.anonymousTenant);
  cfg.absentStateReady = c.bool(root, "absent_state_ready", "", cfg.absentStateReady);
  cfg.healthRefreshMs = <u32>c.integer(root, "health_refresh_ms", "", cfg.healthRefreshMs, 0, 60_000);
  // A refresh interval is a tick on every worker: none shorter than warmup-health's shortest.
  if (!c.failed && cfg.healthRefreshMs > 0 && cfg.healthRefreshMs < MIN_HEALTH_REFRESH_MS) {
    c.fail("health_refresh_ms", "0 (read on every request) or an integer " + MIN_HEALTH_REFRESH_MS.toString() + "..60000", cfg.healthRefreshMs.toString());
  }
  cfg.retryAfterS = <u32>c.integer(root, "retry_after_s", "", cfg.retryAfterS, 1, 86_400);
  cfg.listModelsPath = c.string(root, "list_models_path", "", cfg.listModelsPath, isListPath, "\"\" or a path starting with '/' without '?' or a trailing '/'");
  cfg.listModelsHideNotReady = c.bool(root, "list_models_hide_not_ready", "", cfg.listModelsHideNotReady);
  cfg.ownedBy = c.string(root, "owned_by", "", cfg.ownedBy, isOwner, OWNER);
  if (c.failed) return new ConfigResult(null, c.error);

  parseModels(c, root, cfg);
  if (c.failed) return new ConfigResult(null, c.error);

  const def = root.get("default_model");
  if (def !== null) {
    cfg.defaultModel = def.isString() ? cfg.findModel(def.asString()) : -1;
    if (cfg.defaultModel < 0) c.failValue("default_model", "the name of a model in \"models\"", def);
  }
  crossCheck(c, cfg, root.has("cluster_header"));
  if (c.failed) return new ConfigResult(null, c.error);
  cfg.clusterHeaderBytes = String.UTF8.encode(cfg.clusterHeader);
  cfg.bodyLimits.maxDepth = cfg.maxJsonDepth;
  cfg.bodyLimits.maxBytes = <i32>cfg.maxBodyBytes;
  return new ConfigResult(cfg, "");
}

function parseSources(c: Checker, root: JsonValue): Source[] {
  const out: Source[] = [Source.Header, Source.Path, Source.Body];
  const v = root.get("sources");
  if (v === null || c.failed) return out;
  const expected = "a non-empty list of distinct \"header\", \"path\", \"body\"";
  if (!v.isArray() || v.length == 0 || v.length > 3) {
    c.failValue("sources", expected, v);
    return out;
  }
  const list = new Array<Source>();
  for (let i = 0; i < v.length; i++) {
    const item = v.at(i) as JsonValue;
    const s = item.isString() ? item.asString() : "";
    const src = s == "header" ? Source.Header : s == "path" ? Source.Path : s == "body" ? Source.Body : Source.Default;
    if (src == Source.Default || list.includes(src)) {
      c.failValue("sources[" + i.toString() + "]", expected, item);
      return out;
    }
    list.push(src);
  }
  return list;
}

/**
 * The literal prefixes of `templates`, each kept unless another is a shorter prefix of it or the
 * same and earlier: a path that starts with none of those kept starts with no template.
 */
function distinctPrefixes(templates: PathTemplate[]): string[] {
  const kept = new Array<string>();
  for (let i = 0; i < templates.length; i++) {
    const p = unchecked(templates[i]).literalPrefix;
    let covered = false;
    for (let j = 0; j < templates.length && !covered; j++) {
      const q = unchecked(templates[j]).literalPrefix;
      covered = j != i && p.startsWith(q) && (q.length < p.length || j < i);
    }
    if (!covered) kept.push(p);
  }
  return kept;
}

function parseTemplates(c: Checker, root: JsonValue): PathTemplate[] {
  const out = new Array<PathTemplate>();
  const v = root.get("path_templates");
  const expected = "\"kserve_v2\", \"torchserve\" or a template such as \"/models/{model}/versions/{version}/run\"";
  if (v === null) {
    appendBuiltin(out, "kserve_v2");
    appendBuiltin(out, "torchserve");
    return out;
  }
  if (c.failed) return out;
  if (!v.isArray() || v.length > MAX_TEMPLATES) {
    c.failValue("path_templates", "a list of up to " + MAX_TEMPLATES.toString() + " items, each " + expected, v);
    return out;
  }
  for (let i = 0; i < v.length; i++) {
    const item = v.at(i) as JsonValue;
    const field = "path_templates[" + i.toString() + "]";
    const s = item.isString() ? item.asString() : "";
    if (s.length > 0 && s.charCodeAt(0) == 0x2f) {
      const parsed = parseTemplate(s);
      if (parsed.template === null) {
        c.failValue(field, parsed.error, item);
        return out;
      }
      out.push(parsed.template as PathTemplate);
    } else if (!appendBuiltin(out, s)) {
      c.failValue(field, expected, item);
      return out;
    }
  }
  return out;
}

function appendBuiltin(out: PathTemplate[], name: string): bool {
  const texts = builtinTemplates(name);
  if (texts === null) return false;
  for (let i = 0; i < texts.length; i++) {
    const parsed = parseTemplate(unchecked(texts[i]));
    if (parsed.template === null) continue;
    const t = parsed.template as PathTemplate;
    t.builtin = true;
    t.knownOnly = KNOWN_ONLY.includes(t.text);
    out.push(t);
  }
  return true;
}

function parseModels(c: Checker, root: JsonValue, cfg: RouterConfig): void {
  const models = c.objectsByName(root, "models", "", MODELS);
  if (models === null) return;
  for (let i = 0; i < models.length && !c.failed; i++) {
    const name = models.keyAt(i);
    const field = "models." + name;
    const spec = models.valueAt(i) as JsonValue;
    const owner = c.string(spec, "owned_by", field, cfg.ownedBy, isOwner, OWNER);
    const created = c.integer(spec, "created", field, 0, 0, 253402300799);
    const model = new ModelEntry(name, cfg.models.length, owner, created);
    parseVersions(c, spec, field, model);
    parseAliases(c, spec, field, model);
    if (c.failed) return;
    cfg.addModel(model);
  }
}

function parseVersions(c: Checker, spec: JsonValue, field: string, model: ModelEntry): void {
  const versions = c.objectsByName(spec, "versions", field, VERSIONS);
  if (versions === null) return;
  const vfield = field + ".versions";
  const n = versions.length;
  for (let i = 0; i < n && !c.failed; i++) {
    const name = versions.keyAt(i);
    const f = vfield + "." + name;
    const v = versions.valueAt(i) as JsonValue;
    if (!c.failed && !v.has("cluster")) c.fail(f + ".cluster", "a cluster name", "nothing");
    const cluster = c.string(v, "cluster", f, "", isVisibleAscii255, "a cluster name: 1-255 visible ASCII characters");
    const upstream = c.string(v, "upstream_model", f, "", isVisibleAscii255, "a model name: 1-255 visible ASCII characters");
    const weight = <u32>c.integer(v, "weight", f, n == 1 ? 100 : 0, 0, 100);
    model.addName(name, model.versions.length);
    model.versions.push(new VersionEntry(name, cluster, upstream, weight));
  }
  if (c.failed) return;

  // Split ranges: contiguous, in config order, so raising one weight moves only the buckets
  // between the old and the new boundary.
  let start: u32 = 0;
  for (let i = 0; i < model.versions.length; i++) {
    const v = unchecked(model.versions[i]);
    v.rangeStart = start;
    start += v.weight * BUCKETS_PER_PERCENT;
    v.rangeEnd = start;
  }
  const total = start / BUCKETS_PER_PERCENT;
  if (total != 100) {
    c.fail(vfield, "weights that sum to 100", total.toString());
    return;
  }

  for (let i = 0; i < n && !c.failed; i++) {
    const entry = unchecked(model.versions[i]);
    const fallback = (versions.valueAt(i) as JsonValue).get("fallback");
    if (fallback === null) {
      for (let j = 0; j < n; j++) if (j != i) entry.fallback.push(j);
      continue;
    }
    const f = vfield + "." + entry.name + ".fallback";
    const expected = "a list of other versions of " + quote(model.name);
    if (!fallback.isArray() || fallback.length >= n) {
      c.failValue(f, expected, fallback);
      return;
    }
    for (let j = 0; j < fallback.length; j++) {
      const item = fallback.at(j) as JsonValue;
      const target = item.isString() && model.lookup.has(item.asString()) ? model.lookup.get(item.asString()) : -1;
      if (target < 0 || target == i || entry.fallback.includes(target)) {
        c.failValue(f + "[" + j.toString() + "]", expected + ", each once", item);
        return;
      }
      entry.fallback.push(target);
    }
  }
}

function parseAliases(c: Checker, spec: JsonValue, field: string, model: ModelEntry): void {
  const aliases = c.object(spec, "aliases", field, "an object of alias names to version names");
  if (aliases === null || c.failed) return;
  const afield = field + ".aliases";
  if (aliases.length > MAX_ALIASES) {
    c.failValue(afield, "at most " + MAX_ALIASES.toString() + " aliases", aliases);
    return;
  }
  c.keys(aliases, afield, null);
  for (let i = 0; i < aliases.length && !c.failed; i++) {
    const name = aliases.keyAt(i);
    const f = afield + "." + name;
    if (!isVersionName(name)) {
      c.fail(f, "an alias name: " + VERSION_NAME, quote(name));
      return;
    }
    if (model.lookup.has(name)) {
      c.fail(f, "an alias that is not also a version name", quote(name));
      return;
    }
    const target = aliases.valueAt(i) as JsonValue;
    const t = target.isString() ? target.asString() : "";
    // An alias names a version, not another alias: one step from name to version, as listed.
    const version = t.length > 0 && model.lookup.has(t) && !model.aliasNames.includes(t) ? model.lookup.get(t) : -1;
    if (version < 0) {
      c.failValue(f, "the name of a version of " + quote(model.name), target);
      return;
    }
    model.addName(name, version);
    model.aliasNames.push(name);
    model.aliasTargets.push(version);
  }
}

/**
 * Headers cluster_header may not be: besides the framing, those the request's body and
 * credentials travel in, which the filter's removal of client copies would strip.
 */
const RESERVED_HEADERS = FRAMING_HEADERS.concat([
  "content-type", "content-encoding", "expect", "authorization", "proxy-authorization", "cookie",
]);

/** Checks between fields, once each field is valid on its own. */
function crossCheck(c: Checker, cfg: RouterConfig, clusterHeaderSet: bool): void {
  if (c.failed) return;
  if (cfg.clusterHeader == MODEL_HEADER || cfg.clusterHeader == VERSION_HEADER || cfg.clusterHeader == TENANT_HEADER) {
    c.fail("cluster_header", "a header other than x-ai-model, x-ai-model-version, x-ai-tenant", quote(cfg.clusterHeader));
    return;
  }
  // The filter removes the client's copies of cluster_header, then sets its own: one that the
  // request's framing, its host or its credentials travel in would break every request.
  if (RESERVED_HEADERS.includes(cfg.clusterHeader)) {
    c.fail("cluster_header", "a header that is not one of " + RESERVED_HEADERS.join(", "), quote(cfg.clusterHeader));
    return;
  }
  if (cfg.versionHeader.length > 0 && cfg.versionHeader == cfg.modelHeader) {
    c.fail("version_header", "a header other than model_header (" + cfg.modelHeader + ")", quote(cfg.versionHeader));
    return;
  }
  const outputs = [cfg.clusterHeader, MODEL_HEADER, VERSION_HEADER, TENANT_HEADER];
  // The filter removes its output headers from the request first, so none can be an input.
  const inputs = ["model_header", "version_header", "sticky_header", "tenant_header"];
  const values = [cfg.modelHeader, cfg.versionHeader, cfg.stickyHeader, cfg.tenantHeader];
  for (let i = 0; i < inputs.length; i++) {
    // A cluster_header the configuration sets is the field at fault when it takes an input's name.
    if (clusterHeaderSet && unchecked(values[i]) == cfg.clusterHeader) {
      c.fail("cluster_header", "a header that is not also " + unchecked(inputs[i]) + " (" + cfg.clusterHeader + ")", quote(cfg.clusterHeader));
      return;
    }
    if (outputs.includes(unchecked(values[i]))) {
      c.fail(unchecked(inputs[i]), "a header the filter does not set (" + outputs.join(", ") + ")", quote(unchecked(values[i])));
      return;
    }
  }
  if (cfg.stickyKey == StickyKey.Header && cfg.stickyHeader.length == 0) {
    c.fail("sticky_header", "a header name when sticky_key is \"header\"", "nothing");
  } else if (cfg.stickyKey != StickyKey.Header && cfg.stickyHeader.length > 0) {
    c.fail("sticky_header", "no sticky_header unless sticky_key is \"header\"", quote(cfg.stickyHeader));
  } else if (cfg.stickyKey == StickyKey.Tenant && cfg.tenantHeader.length == 0) {
    c.fail("tenant_header", "an identity header when sticky_key is \"tenant\"", "\"\"");
  }
}

// ---- value checks ----

const OWNER = "1-128 visible ASCII characters";



function isStickyKey(s: string): bool {
  return s == "none" || s == "tenant" || s == "header";
}

function isListPath(s: string): bool {
  if (s.length == 0) return true;
  // No trailing '/': `<path>/<model>` would start with "//", and `<path>/` is read as the list.
  return s.length >= 2 && s.length <= 256 && s.charCodeAt(0) == 0x2f && s.charCodeAt(s.length - 1) != 0x2f && s.indexOf("?") < 0 && isVisibleAscii255(s);
}

function isOwner(s: string): bool {
  return s.length <= 128 && isVisibleAscii255(s);
}





/** Hex digits only would look like a tenant hash. */
function isAnonymousTenant(s: string): bool {
  if (s.length == 0) return true;
  if (s.length > 64) return false;
  let nonHex = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (!(isAlnum(ch) || ch == 0x2e || ch == 0x5f || ch == 0x2d)) return false;
    if (!((ch >= 0x30 && ch <= 0x39) || (ch >= 0x61 && ch <= 0x66) || (ch >= 0x41 && ch <= 0x46))) nonHex = true;
  }
  return nonHex;
}

// ---- helpers ----




