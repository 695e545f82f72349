// The filter's JSON configuration: parse, validate, derive. Never throws; the first problem becomes
// one message `<field>: expected <what>, got <value>` that onConfigure logs at critical level
// before refusing to start. Unknown keys are errors. Each target's probe is derived here into the
// request steps it sends (probe.ts says how an answer is judged).

import { Checker, parseConfigDocument, quote } from "../../assembly/config/checker";
import { FRAMING_HEADERS, HEADER_NAME, isHeaderName, isModelName, isVersionName, isVisibleAscii255, MODEL_NAME, VERSION_NAME } from "../../assembly/config/values";
import { sha256, toHex } from "../../assembly/crypto/sha256";
import { healthKey } from "../../assembly/health/record";
import { ownerKey, targetKey, versionOwnerKey } from "../../assembly/health/target";
import { metricLabel } from "../../assembly/host/metrics";
import { HeaderPair } from "../../assembly/host/pairs";
import { canonicalJson, JsonValue, parseJsonText, quoteJsonString } from "../../assembly/json/index";

export const MAX_TARGETS: i32 = 256;
export const MAX_HEADERS: i32 = 16;
export const MAX_WARMUP_REQUESTS: i32 = 16;
export const MAX_WARMUP_TOTAL: i64 = 1000;
export const MAX_STATUSES: i32 = 16;
export const MAX_PATH_CHARS: i32 = 1024;
export const MAX_HEADER_VALUE_CHARS: i32 = 4096;
export const MAX_BODY_TEXT_BYTES: i32 = 64 << 10;

export const DEFAULT_PATH_PREFIX = "/ai-gateway/health";

const TOP_KEYS: string[] = [
  "targets", "tick_ms", "lease_ms", "interval_ms", "timeout_ms", "unhealthy_threshold", "healthy_threshold",
  "ramp_ms", "max_response_bytes", "path_prefix",
];
/** Keys that only change how the endpoints answer, left out of the lease digest. */
const ENDPOINT_KEYS: string[] = ["path_prefix"];
/** Keys of the probing (every top-level key but the endpoints'): the lease digest's. */
export const PROBING_KEYS: string[] = TOP_KEYS.filter((k: string): bool => !ENDPOINT_KEYS.includes(k));
const TARGET_KEYS: string[] = [
  "model", "version", "cluster", "probe", "upstream_model", "warmup", "interval_ms", "timeout_ms",
  "unhealthy_threshold", "healthy_threshold", "ramp_ms",
];
const WARMUP_KEYS: string[] = ["requests", "max_latency_ms", "timeout_ms"];
const WARMUP_REQUEST_KEYS: string[] = ["method", "path", "headers", "body", "count"];

/** Probe kinds, in the order of PROBE_KINDS. */
export enum ProbeKind { KserveV2, Triton, Mlserver, Vllm, Tgi, LlamaCpp, Torchserve, Ollama, Openai, Custom }

export const PROBE_KINDS: string[] = [
  "kserve-v2", "triton", "mlserver", "vllm", "tgi", "llama-cpp", "torchserve", "ollama", "openai", "custom",
];

const COMMON_PROBE_KEYS: string[] = ["kind", "headers", "authority"];

/** The probe kinds that accept `key`, as "a, b" ("" for none). */
function kindsWithKey(key: string): string {
  let out = "";
  for (let k = 0; k < PROBE_KINDS.length; k++) {
    if (!probeKeys(<ProbeKind>k).includes(key)) continue;
    out += (out.length > 0 ? ", " : "") + unchecked(PROBE_KINDS[k]);
  }
  return out;
}

/** The keys a probe of `kind` accepts. */
function probeKeys(kind: ProbeKind): string[] {
  const keys = COMMON_PROBE_KEYS.slice(0);
  if (kind == ProbeKind.KserveV2 || kind == ProbeKind.Triton || kind == ProbeKind.Mlserver) keys.push("upstream_version");
  if (kind == ProbeKind.LlamaCpp) keys.push("router_mode");
  if (kind == ProbeKind.Custom) {
    keys.push("method");
    keys.push("path");
    keys.push("expected_statuses");
    keys.push("body");
    keys.push("body_contains");
  }
  return keys;
}

/** What a probe step checks in the answer's body, beyond its status. */
export enum BodyCheck {
  None,
  /** OpenAI list (`/v1/models`): `data[].id` includes the upstream model. */
  ModelListed,
  /** Ollama `/api/ps`: `models[].name` or `.model` is the upstream model (`name:latest` counts for `name`). */
  OllamaListed,
  /** llama-server router mode `/models`: the upstream model's `status` (or `status.value`) is `loaded`. */
  LlamaLoaded,
  /** The body contains `contains` (custom probes). */
  Contains,
}

/** One HTTP request of a probe; every step must pass for the probe to pass. */
export class ProbeStep {
  constructor(
    public method: string,
    public path: string,
    public body: ArrayBuffer | null,
    /** Statuses that pass; any other status fails the probe. */
    public expected: u32[],
    public check: BodyCheck,
    public contains: string,
  ) {}
}

export class Probe {
  kind: ProbeKind = ProbeKind.Custom;
  steps: ProbeStep[] = [];
  /** Extra request headers (e.g. authorization for a hosted API). */
  headers: HeaderPair[] = [];
  authority: string = "";
}

export class WarmupRequest {
  constructor(
    public method: string,
    public path: string,
    public headers: HeaderPair[],
    public body: ArrayBuffer | null,
    public count: u32,
  ) {}
}

export class Warmup {
  requests: WarmupRequest[] = [];
  /** Sum of the requests' counts: warmup requests in one round. */
  total: u32 = 0;
  maxLatencyMs: u32 = 10_000;
  timeoutMs: u32 = 30_000;

  /** The request sent as number `n` (0-based) of a round. */
  requestAt(n: u32): WarmupRequest {
    let left = n;
    for (let i = 0; i < this.requests.length; i++) {
      const r = unchecked(this.requests[i]);
      if (left < r.count) return r;
      left -= r.count;
    }
    return unchecked(this.requests[this.requests.length - 1]);
  }
}

/** How one target is probed and how its state moves (the machine's settings). */
export class Target {
  probe: Probe = new Probe();
  warmup: Warmup | null = null;
  intervalMs: u32 = 5000;
  timeoutMs: u32 = 2000;
  unhealthyThreshold: u32 = 3;
  healthyThreshold: u32 = 2;
  rampMs: u32 = 30_000;
  /** Shared-data key of its record. */
  key: string = "";
  /** Shared-data key naming the configuration that probes it (target.ts `ownerKey`). */
  ownerKey: string = "";
  /** Index into HealthConfig.versions. */
  version: i32 = 0;

  constructor(public model: string, public versionName: string, public cluster: string, public upstreamModel: string) {}

  get name(): string {
    return this.model + "/" + this.versionName + "@" + this.cluster;
  }
}

/** The targets of one model version: they make up its record for the router. */
export class VersionGroup {
  targets: i32[] = [];
  /** Shared-data key of the version's record (assembly/health/record.ts). */
  key: string;
  /** Shared-data key naming the configuration that writes that record (target.ts `versionOwnerKey`). */
  ownerKey: string;

  constructor(public model: string, public version: string) {
    this.key = healthKey(model, version);
    this.ownerKey = versionOwnerKey(model, version);
  }
}

export class HealthConfig {
  tickMs: u32 = 500;
  leaseMs: u32 = 3000;
  maxResponseBytes: u32 = 1 << 20;
  /** "" turns the endpoints off. */
  pathPrefix: string = DEFAULT_PATH_PREFIX;
  targets: Target[] = [];
  versions: VersionGroup[] = [];
  /** 16 hex digits naming the probing part of this configuration (the lease key's suffix). */
  digest: string = "";

  /** Index of the version group of `model` and `version`, or -1. */
  versionIndex(model: string, version: string): i32 {
    for (let i = 0; i < this.versions.length; i++) {
      const g = unchecked(this.versions[i]);
      if (g.model == model && g.version == version) return i;
    }
    return -1;
  }

  /** Whether any target names `model`. */
  hasModel(model: string): bool {
    for (let i = 0; i < this.versions.length; i++) if (unchecked(this.versions[i]).model == model) return true;
    return false;
  }
}

export class HealthConfigResult {
  constructor(public config: HealthConfig | null, public error: string) {}
}

export const BLANK_EXPECTATION = "a JSON object with \"targets\"";

/** Parses and validates `bytes`, then derives the configuration. */
export function parseConfig(bytes: ArrayBuffer): HealthConfigResult {
  const doc = parseConfigDocument(bytes, BLANK_EXPECTATION);
  if (doc.root === null) return new HealthConfigResult(null, doc.error);
  return parseHealthConfig(doc.root as JsonValue);
}

/** Validates the configuration object `root`, then derives the configuration. */
export function parseHealthConfig(root: JsonValue): HealthConfigResult {
  const c = new Checker();
  c.keys(root, "", TOP_KEYS);
  const cfg = new HealthConfig();
  cfg.tickMs = <u32>c.integer(root, "tick_ms", "", cfg.tickMs, 100, 60_000);
  cfg.leaseMs = <u32>c.integer(root, "lease_ms", "", cfg.leaseMs, 200, 600_000);
  if (!c.failed && cfg.leaseMs < 2 * cfg.tickMs) {
    c.fail("lease_ms", "at least twice tick_ms (" + (2 * cfg.tickMs).toString() + ")", cfg.leaseMs.toString());
  }
  // Top-level defaults of the per-target settings.
  const defaults = new Target("", "", "", "");
  readTiming(c, root, "", defaults, defaults);
  cfg.maxResponseBytes = <u32>c.integer(root, "max_response_bytes", "", cfg.maxResponseBytes, 1024, 16 << 20);
  cfg.pathPrefix = c.string(root, "path_prefix", "", cfg.pathPrefix, isPathPrefix,
    "\"\" (no endpoints) or a path starting with '/', not ending with '/', of visible ASCII, at most 256 characters, not /v1, /v2 or under them");
  if (c.failed) return new HealthConfigResult(null, c.error);

  const list = root.get("targets");
  const expected = "a list of 1 to " + MAX_TARGETS.toString() + " targets";
  if (list === null) {
    c.fail("targets", expected, "nothing");
  } else if (!list.isArray() || list.length == 0 || list.length > MAX_TARGETS) {
    c.failValue("targets", expected, list);
  } else {
    // The metric tags of the targets so far, by index (worked out once each, not per pair).
    const seenTags = new Array<string>();
    for (let i = 0; i < list.length && !c.failed; i++) {
      const t = parseTarget(c, list.at(i) as JsonValue, "targets[" + i.toString() + "]", defaults);
      if (t === null) break;
      const tags = metricTags(t);
      for (let j = 0; j < cfg.targets.length; j++) {
        const other = unchecked(cfg.targets[j]);
        if (other.key == t.key) {
          c.fail("targets[" + i.toString() + "]", "each model, version and cluster once", t.name + " twice");
          break;
        }
        // Two targets under one tag set would write the same state and ramp gauges, each
        // overwriting the other: the dashboard would show whichever probed last.
        if (unchecked(seenTags[j]) == tags) {
          c.fail("targets[" + i.toString() + "]", "model, version and cluster whose metric tags differ from every other target's (characters other than letters, digits, '_' and '-' become '_')",
            t.name + ", the tags " + tags + " of targets[" + j.toString() + "] " + other.name);
          break;
        }
      }
      if (c.failed) break;
      seenTags.push(tags);
      let g = cfg.versionIndex(t.model, t.versionName);
      if (g < 0) {
        g = cfg.versions.length;
        cfg.versions.push(new VersionGroup(t.model, t.versionName));
      }
      t.version = g;
      unchecked(cfg.versions[g]).targets.push(cfg.targets.length);
      cfg.targets.push(t);
    }
  }
  if (c.failed) return new HealthConfigResult(null, c.error);
  cfg.digest = probingDigest(root);
  return new HealthConfigResult(cfg, "");
}

/** interval_ms, timeout_ms, thresholds and ramp_ms of `obj` over those of `base`, into `into`. */
function readTiming(c: Checker, obj: JsonValue, field: string, base: Target, into: Target): void {
  into.intervalMs = <u32>c.integer(obj, "interval_ms", field, base.intervalMs, 100, 3_600_000);
  into.timeoutMs = <u32>c.integer(obj, "timeout_ms", field, base.timeoutMs, 1, 600_000);
  into.unhealthyThreshold = <u32>c.integer(obj, "unhealthy_threshold", field, base.unhealthyThreshold, 1, 100);
  into.healthyThreshold = <u32>c.integer(obj, "healthy_threshold", field, base.healthyThreshold, 1, 100);
  into.rampMs = <u32>c.integer(obj, "ramp_ms", field, base.rampMs, 0, 86_400_000);
}

function parseTarget(c: Checker, v: JsonValue, field: string, defaults: Target): Target | null {
  if (!v.isObject()) {
    c.failValue(field, "an object with model, version, cluster and probe", v);
    return null;
  }
  c.keys(v, field, TARGET_KEYS);
  const model = required(c, v, "model", field, isModelName, MODEL_NAME);
  const version = required(c, v, "version", field, isVersionName, VERSION_NAME);
  const cluster = required(c, v, "cluster", field, isVisibleAscii255, "an Envoy cluster name: 1-255 visible ASCII characters");
  const upstream = c.string(v, "upstream_model", field, model, isUpstreamName, "a model name on the server: 1-256 visible ASCII characters");
  if (c.failed) return null;
  const t = new Target(model, version, cluster, upstream);
  t.key = targetKey(model, version, cluster);
  t.ownerKey = ownerKey(model, version, cluster);
  readTiming(c, v, field, defaults, t);
  if (c.failed) return null;
  const probeField = field.length == 0 ? "probe" : field + ".probe";
  const probe = v.get("probe");
  if (probe === null) {
    c.fail(probeField, "an object with \"kind\"", "nothing");
    return null;
  }
  parseProbe(c, probe, probeField, t);
  const warmup = c.object(v, "warmup", field, "an object with \"requests\"");
  if (warmup !== null && !c.failed) t.warmup = parseWarmup(c, warmup, field + ".warmup");
  return c.failed ? null : t;
}

function required(c: Checker, obj: JsonValue, key: string, field: string, check: (s: string) => bool, expected: string): string {
  if (c.failed) return "";
  if (!obj.has(key)) {
    c.fail(field + "." + key, expected, "nothing");
    return "";
  }
  return c.string(obj, key, field, "", check, expected);
}

function parseProbe(c: Checker, v: JsonValue, field: string, t: Target): void {
  if (!v.isObject()) {
    c.failValue(field, "an object with \"kind\"", v);
    return;
  }
  const kindValue = v.get("kind");
  const kinds = "one of " + PROBE_KINDS.join(", ");
  if (kindValue === null) {
    c.fail(field + ".kind", kinds, "nothing");
    return;
  }
  const kind = kindValue.isString() ? PROBE_KINDS.indexOf(kindValue.asString()) : -1;
  if (kind < 0) {
    c.failValue(field + ".kind", kinds, kindValue);
    return;
  }
  const allowed = probeKeys(<ProbeKind>kind);
  // A key of another kind's probe (`router_mode` on a tgi probe): say whose it is, not only that
  // it is unknown here.
  for (let i = 0; i < v.length; i++) {
    const key = v.keyAt(i);
    if (allowed.includes(key)) continue;
    const owners = kindsWithKey(key);
    if (owners.length == 0) break;
    c.fail(field + "." + key, "one of the keys " + allowed.join(", ") + " (a " + PROBE_KINDS[kind] + " probe's)",
      key + ", a key of " + owners + " probes");
    return;
  }
  c.keys(v, field, allowed);
  if (c.failed) return;
  const p = t.probe;
  p.kind = <ProbeKind>kind;
  p.headers = parseHeaders(c, v, field);
  p.authority = c.string(v, "authority", field, t.cluster, isVisibleAscii255, "a host name: 1-255 visible ASCII characters");
  if (c.failed) return;
  const OK: u32[] = [200];
  const m = t.upstreamModel;
  switch (p.kind) {
    case ProbeKind.KserveV2:
    case ProbeKind.Triton:
    case ProbeKind.Mlserver: {
      const version = c.string(v, "upstream_version", field, "", isVersionName, VERSION_NAME);
      const path = "/v2/models/" + pathSegment(m) + (version.length > 0 ? "/versions/" + version : "") + "/ready";
      p.steps.push(new ProbeStep("GET", path, null, OK, BodyCheck.None, ""));
      break;
    }
    case ProbeKind.Vllm:
      p.steps.push(new ProbeStep("GET", "/health", null, OK, BodyCheck.None, ""));
      p.steps.push(new ProbeStep("GET", "/v1/models", null, OK, BodyCheck.ModelListed, ""));
      break;
    case ProbeKind.Tgi:
      p.steps.push(new ProbeStep("GET", "/health", null, OK, BodyCheck.None, ""));
      break;
    case ProbeKind.LlamaCpp:
      if (c.bool(v, "router_mode", field, false)) p.steps.push(new ProbeStep("GET", "/models", null, OK, BodyCheck.LlamaLoaded, ""));
      else p.steps.push(new ProbeStep("GET", "/health", null, OK, BodyCheck.None, ""));
      break;
    case ProbeKind.Torchserve:
      p.steps.push(new ProbeStep("GET", "/ping", null, OK, BodyCheck.None, ""));
      break;
    case ProbeKind.Ollama:
      p.steps.push(new ProbeStep("GET", "/api/ps", null, OK, BodyCheck.OllamaListed, ""));
      break;
    case ProbeKind.Openai:
      p.steps.push(new ProbeStep("GET", "/v1/models", null, OK, BodyCheck.ModelListed, ""));
      break;
    default: {
      if (!v.has("path")) {
        c.fail(field + ".path", "a path starting with '/'", "nothing");
        return;
      }
      const path = c.string(v, "path", field, "/", isPath, PATH);
      const method = c.string(v, "method", field, "GET", isMethod, METHOD);
      const statuses = parseStatuses(c, v, field);
      const body = parseBody(c, v, field);
      const contains = c.string(v, "body_contains", field, "", isContains, "a non-empty string of at most 1024 characters");
      if (c.failed) return;
      p.steps.push(new ProbeStep(method, path, body, statuses, contains.length > 0 ? BodyCheck.Contains : BodyCheck.None, contains));
      if (body !== null && !hasHeader(p.headers, "content-type") && isJsonBody(v.get("body") as JsonValue)) {
        p.headers.push(new HeaderPair("content-type", "application/json"));
      }
    }
  }
}

function parseWarmup(c: Checker, v: JsonValue, field: string): Warmup | null {
  c.keys(v, field, WARMUP_KEYS);
  const w = new Warmup();
  w.maxLatencyMs = <u32>c.integer(v, "max_latency_ms", field, w.maxLatencyMs, 1, 600_000);
  w.timeoutMs = <u32>c.integer(v, "timeout_ms", field, w.timeoutMs, 1, 600_000);
  if (!c.failed && w.timeoutMs < w.maxLatencyMs) {
    c.fail(field + ".timeout_ms", "at least max_latency_ms (" + w.maxLatencyMs.toString() + ")", w.timeoutMs.toString());
  }
  if (c.failed) return null;
  const list = v.get("requests");
  const expected = "a list of 1 to " + MAX_WARMUP_REQUESTS.toString() + " requests";
  if (list === null) {
    c.fail(field + ".requests", expected, "nothing");
    return null;
  }
  if (!list.isArray() || list.length == 0 || list.length > MAX_WARMUP_REQUESTS) {
    c.failValue(field + ".requests", expected, list);
    return null;
  }
  let total: i64 = 0;
  for (let i = 0; i < list.length; i++) {
    const rf = field + ".requests[" + i.toString() + "]";
    const r = list.at(i) as JsonValue;
    if (!r.isObject()) {
      c.failValue(rf, "an object with \"path\"", r);
      return null;
    }
    c.keys(r, rf, WARMUP_REQUEST_KEYS);
    if (!c.failed && !r.has("path")) c.fail(rf + ".path", "a path starting with '/'", "nothing");
    const path = c.string(r, "path", rf, "/", isPath, PATH);
    const body = parseBody(c, r, rf);
    const method = c.string(r, "method", rf, body !== null ? "POST" : "GET", isMethod, METHOD);
    const headers = parseHeaders(c, r, rf);
    const count = <u32>c.integer(r, "count", rf, 1, 1, 100);
    if (c.failed) return null;
    if (body !== null && !hasHeader(headers, "content-type") && isJsonBody(r.get("body") as JsonValue)) {
      headers.push(new HeaderPair("content-type", "application/json"));
    }
    total += <i64>count;
    w.requests.push(new WarmupRequest(method, path, headers, body, count));
  }
  if (total > MAX_WARMUP_TOTAL) {
    c.fail(field + ".requests", "counts that sum to at most " + MAX_WARMUP_TOTAL.toString(), total.toString());
    return null;
  }
  w.total = <u32>total;
  return w;
}

/** Headers a probe or warmup request may not set: Envoy sets the host and the body's length. */
const RESERVED_HEADERS = FRAMING_HEADERS;

function parseHeaders(c: Checker, obj: JsonValue, field: string): HeaderPair[] {
  const out = new Array<HeaderPair>();
  const v = c.object(obj, "headers", field, "an object of up to " + MAX_HEADERS.toString() + " header names to values");
  if (v === null || c.failed) return out;
  const hf = field + ".headers";
  if (v.length > MAX_HEADERS) {
    c.failValue(hf, "an object of up to " + MAX_HEADERS.toString() + " header names to values", v);
    return out;
  }
  c.keys(v, hf, null);
  for (let i = 0; i < v.length && !c.failed; i++) {
    const name = v.keyAt(i);
    if (!isHeaderName(name) || RESERVED_HEADERS.includes(name)) {
      c.fail(hf + "." + name, HEADER_NAME + " other than " + RESERVED_HEADERS.join(", "), quote(name));
      break;
    }
    const value = v.valueAt(i) as JsonValue;
    if (!value.isString() || !isHeaderValue(value.asString())) {
      c.failValue(hf + "." + name, "a string of at most " + MAX_HEADER_VALUE_CHARS.toString() + " printable ASCII characters", value);
      break;
    }
    out.push(new HeaderPair(name, value.asString()));
  }
  return out;
}

function parseStatuses(c: Checker, obj: JsonValue, field: string): u32[] {
  const v = obj.get("expected_statuses");
  const out = new Array<u32>();
  if (v === null || c.failed) {
    out.push(200);
    return out;
  }
  const expected = "a list of 1 to " + MAX_STATUSES.toString() + " HTTP statuses (100..599)";
  if (!v.isArray() || v.length == 0 || v.length > MAX_STATUSES) {
    c.failValue(field + ".expected_statuses", expected, v);
    return out;
  }
  for (let i = 0; i < v.length; i++) {
    const s = v.at(i) as JsonValue;
    if (!s.isInteger() || s.asInteger() < 100 || s.asInteger() > 599) {
      c.failValue(field + ".expected_statuses[" + i.toString() + "]", "an HTTP status 100..599", s);
      return out;
    }
    out.push(<u32>s.asInteger());
  }
  return out;
}

/** A request body: a JSON object or array is sent as its text, a string as its characters. */
function parseBody(c: Checker, obj: JsonValue, field: string): ArrayBuffer | null {
  const v = obj.get("body");
  if (v === null || c.failed) return null;
  const expected = "a JSON object or array (sent as JSON) or a string (sent as it is), at most " + MAX_BODY_TEXT_BYTES.toString() + " bytes";
  if (!(v.isObject() || v.isArray() || v.isString())) {
    c.failValue(field + ".body", expected, v);
    return null;
  }
  const bytes = v.isString() ? String.UTF8.encode(v.asString()) : String.UTF8.encode(v.raw());
  if (bytes.byteLength > MAX_BODY_TEXT_BYTES) {
    c.fail(field + ".body", expected, bytes.byteLength.toString() + " bytes");
    return null;
  }
  return bytes;
}

function isJsonBody(v: JsonValue): bool {
  return v.isObject() || v.isArray();
}

function hasHeader(headers: HeaderPair[], name: string): bool {
  for (let i = 0; i < headers.length; i++) if (unchecked(headers[i]).name == name) return true;
  return false;
}

/**
 * The lease digest: SHA-256 of the canonical JSON of the configuration without its endpoint-only
 * keys, first 16 hex digits. Roots configured alike share one lease, whichever worker runs them.
 */
function probingDigest(root: JsonValue): string {
  let text = "{";
  let first = true;
  for (let i = 0; i < root.length; i++) {
    const key = root.keyAt(i);
    if (ENDPOINT_KEYS.includes(key)) continue;
    text += (first ? "" : ",") + quoteJsonString(key) + ":" + (root.valueAt(i) as JsonValue).raw();
    first = false;
  }
  const parsed = parseJsonText(text + "}");
  // The members are spans of a document that parsed, so this one parses too.
  const canonical = parsed.value !== null ? canonicalJson(parsed.value as JsonValue) : String.UTF8.encode(text);
  return toHex(sha256(canonical)).substring(0, 16);
}

const PATH = "a path starting with '/': 1-" + MAX_PATH_CHARS.toString() + " visible ASCII characters";
const METHOD = "an HTTP method: 1-16 upper-case letters";

export function isPath(s: string): bool {
  if (s.length == 0 || s.length > MAX_PATH_CHARS || s.charCodeAt(0) != 0x2f) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

function isPathPrefix(s: string): bool {
  if (s.length == 0) return true;
  return s.length <= 256 && isPath(s) && s.charCodeAt(s.length - 1) != 0x2f && s.indexOf("?") < 0 && s.indexOf("#") < 0 &&
    !underApiRoot(s, "/v1") && !underApiRoot(s, "/v2");
}

/**
 * Whether `s` is `root` or a path under it. The endpoints answer every path under the prefix
 * (an unknown model 404, a POST 405), so a prefix there would take the OpenAI (`/v1`) or KServe
 * (`/v2`) API, `GET /v1/models` included, away from the router and the model server.
 */
function underApiRoot(s: string, root: string): bool {
  return s.startsWith(root) && (s.length == root.length || s.charCodeAt(root.length) == 0x2f);
}

/**
 * `name` as one path segment: bytes other than letters, digits, `-` `.` `_` `~` `:` `@`
 * percent-encoded, so an upstream model named `org/llama` or `a?b` probes its own URL.
 */
function pathSegment(name: string): string {
  let plain = true;
  for (let i = 0; i < name.length && plain; i++) plain = isSegmentChar(name.charCodeAt(i));
  if (plain) return name;
  const HEX = "0123456789ABCDEF";
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const ch = name.charCodeAt(i);
    if (isSegmentChar(ch)) out += String.fromCharCode(ch);
    else out += "%" + HEX.charAt(ch >> 4) + HEX.charAt(ch & 15);
  }
  return out;
}

function isSegmentChar(ch: i32): bool {
  return (ch >= 0x61 && ch <= 0x7a) || (ch >= 0x41 && ch <= 0x5a) || (ch >= 0x30 && ch <= 0x39) ||
    ch == 0x2d || ch == 0x2e || ch == 0x5f || ch == 0x7e || ch == 0x3a || ch == 0x40;
}

/** The target's metric tags, as its stats name them (`.model=...version=...cluster=...`). */
function metricTags(t: Target): string {
  return "model=" + metricLabel(t.model) + ".version=" + metricLabel(t.versionName) + ".cluster=" + metricLabel(t.cluster);
}

function isMethod(s: string): bool {
  if (s.length == 0 || s.length > 16) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x41 || ch > 0x5a) return false;
  }
  return true;
}

function isHeaderValue(s: string): bool {
  if (s.length > MAX_HEADER_VALUE_CHARS) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x20 || ch > 0x7e) return false;
  }
  return true;
}

function isUpstreamName(s: string): bool {
  if (s.length == 0 || s.length > 256) return false;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch < 0x21 || ch > 0x7e) return false;
  }
  return true;
}

function isContains(s: string): bool {
  return s.length > 0 && s.length <= 1024;
}

