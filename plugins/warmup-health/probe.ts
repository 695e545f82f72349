// How a probe's or warmup request's answer is judged. Pure: the prober (prober.ts) turns Envoy's
// answer into an Answer (status, reset, timeout, the body when the step needs it and it is small
// enough) and gets an Outcome: a Reason (a fixed list, for metrics) and a detail for the record's
// reason text. Any status not in the step's expected list fails (model servers answer 503, 400
// or 500 while loading); bodies are untrusted: parsed by the bounded reader, never trapping.

import { HeaderPair } from "../../assembly/host/pairs";
import { E_DEPTH, E_RANGE, E_VALUES, JsonLimits, JsonValue, parseJson } from "../../assembly/json/index";
import { BodyCheck, Probe, ProbeStep, WarmupRequest } from "./config";
import { shortened } from "../../assembly/runtime/text";

/** Most UTF-16 units of a server's text (a model name, a status) shown in a probe's reason. */
const SHOWN_MAX = 80;

/** Why a probe or warmup request passed or failed; names in REASON_NAMES (metrics, README). */
export enum Reason {
  Ok,
  /** A status the step does not expect. */
  Status,
  /** No answer within the timeout. */
  Timeout,
  /** The connection failed or was reset (or the answer was too large for Envoy). */
  Reset,
  /** Envoy refused the call: an unknown cluster, or no healthy host in it. */
  Refused,
  /** A body the step must read is larger than max_response_bytes. */
  BodyTooLarge,
  /** A body the step must read is not JSON of the expected shape. */
  BadBody,
  /** The model list does not include the model. */
  ModelMissing,
  /** llama-server router mode lists the model but not as loaded. */
  NotLoaded,
  /** The custom probe's body_contains is not in the body. */
  BodyMismatch,
  /** A warmup request succeeded, but slower than max_latency_ms. */
  Slow,
}

export const REASON_NAMES: string[] = [
  "ok", "status", "timeout", "reset", "refused", "body-too-large", "bad-body", "model-missing", "not-loaded",
  "body-mismatch", "slow",
];

export function reasonName(r: Reason): string {
  const i = <i32>r;
  return i >= 0 && i < REASON_NAMES.length ? unchecked(REASON_NAMES[i]) : "status";
}

export class Outcome {
  constructor(public reason: Reason, public detail: string) {}

  get ok(): bool {
    return this.reason == Reason.Ok;
  }
}

/** Envoy's answer to one call, as far as judging needs it. */
export class Answer {
  /** `:status`, 0 when absent. */
  status: u32 = 0;
  /** Reset or connection failure (no headers, no body). */
  failed: bool = false;
  /** The call's own timeout fired (Envoy answers 504 then). */
  timedOut: bool = false;
  /** Envoy refused the call: no answer will come. */
  refused: bool = false;
  /** The body, when the step reads it and it is at most the limit. */
  body: ArrayBuffer | null = null;
  /** The body's size as Envoy reported it. */
  bodySize: u32 = 0;
  latencyMs: u32 = 0;
}

/** Depth and size limits for probe bodies. */
export function bodyLimits(maxBytes: u32): JsonLimits {
  const l = new JsonLimits();
  l.maxDepth = 32;
  l.maxBytes = <i32>maxBytes;
  // A value takes two bytes at least (`1,`): as many as the body could hold, from 2^18 up to 2^22
  // (a model list of ~100k entries is ~300k values; the node array is 16 bytes a value).
  const values = maxBytes >> 1;
  l.maxValues = values < (1 << 18) ? 1 << 18 : values > (1 << 22) ? 1 << 22 : <i32>values;
  return l;
}

/** Whether a step needs the answer's body. */
export function readsBody(step: ProbeStep): bool {
  return step.check != BodyCheck.None;
}

/** The request headers of a probe step. */
export function stepHeaders(probe: Probe, step: ProbeStep): HeaderPair[] {
  const out: HeaderPair[] = [
    new HeaderPair(":method", step.method), new HeaderPair(":path", step.path), new HeaderPair(":authority", probe.authority),
  ];
  for (let i = 0; i < probe.headers.length; i++) out.push(unchecked(probe.headers[i]));
  return out;
}

/** The request headers of a warmup request. */
export function warmupHeaders(authority: string, request: WarmupRequest): HeaderPair[] {
  const out: HeaderPair[] = [
    new HeaderPair(":method", request.method), new HeaderPair(":path", request.path), new HeaderPair(":authority", authority),
  ];
  for (let i = 0; i < request.headers.length; i++) out.push(unchecked(request.headers[i]));
  return out;
}

/** Judges the answer to one probe step for the target's `model` (its name on the server). */
export function judgeStep(step: ProbeStep, model: string, a: Answer, maxBodyBytes: u32, timeoutMs: u32): Outcome {
  const what = step.method + " " + step.path + ": ";
  const transport = transportFailure(a, what, timeoutMs);
  if (transport !== null) return transport;
  if (!step.expected.includes(a.status)) return new Outcome(Reason.Status, what + "status " + a.status.toString());
  if (step.check == BodyCheck.None) return new Outcome(Reason.Ok, what + "status " + a.status.toString());
  if (a.bodySize > maxBodyBytes) {
    return new Outcome(Reason.BodyTooLarge, what + "body of " + a.bodySize.toString() + " bytes, over max_response_bytes " + maxBodyBytes.toString());
  }
  const body = a.body !== null ? a.body as ArrayBuffer : new ArrayBuffer(0);
  if (step.check == BodyCheck.Contains) {
    return contains(body, step.contains) ? new Outcome(Reason.Ok, what + "status " + a.status.toString())
      : new Outcome(Reason.BodyMismatch, what + "body lacks " + quoteShort(step.contains));
  }
  const parsed = parseJson(body, bodyLimits(maxBodyBytes));
  if (!parsed.ok || parsed.value === null) {
    // Valid JSON past a bound (depth, value count, a number beyond a double) is not "not JSON".
    const beyond = parsed.error == E_DEPTH || parsed.error == E_VALUES || parsed.error == E_RANGE;
    return new Outcome(Reason.BadBody, what + (beyond ? "body is JSON beyond the probe's limits (" : "body is not JSON (") +
      parsed.error + " at byte " + parsed.offset.toString() + ")");
  }
  const root = parsed.value as JsonValue;
  if (step.check == BodyCheck.OllamaListed) return judgeOllama(root, model, what);
  return judgeModelList(root, model, what, step.check == BodyCheck.LlamaLoaded);
}

/** Judges the answer to a warmup request: any 2xx within `maxLatencyMs` passes. */
export function judgeWarmup(request: WarmupRequest, a: Answer, maxLatencyMs: u32, timeoutMs: u32): Outcome {
  const what = "warmup " + request.method + " " + request.path + ": ";
  const transport = transportFailure(a, what, timeoutMs);
  if (transport !== null) return transport;
  if (a.status < 200 || a.status > 299) return new Outcome(Reason.Status, what + "status " + a.status.toString());
  if (a.latencyMs > maxLatencyMs) {
    return new Outcome(Reason.Slow, what + a.latencyMs.toString() + " ms, over max_latency_ms " + maxLatencyMs.toString());
  }
  return new Outcome(Reason.Ok, what + "status " + a.status.toString() + " in " + a.latencyMs.toString() + " ms");
}

function transportFailure(a: Answer, what: string, timeoutMs: u32): Outcome | null {
  if (a.refused) return new Outcome(Reason.Refused, what + "refused by Envoy (unknown cluster or no healthy host)");
  if (a.timedOut) return new Outcome(Reason.Timeout, what + "no answer within " + timeoutMs.toString() + " ms");
  if (a.failed) return new Outcome(Reason.Reset, what + "connection failed or reset");
  return null;
}

/** OpenAI's list (`{"data":[{"id":...}]}`), also llama-server's router `/models` with `status`. */
function judgeModelList(root: JsonValue, model: string, what: string, needLoaded: bool): Outcome {
  const data = root.isObject() ? root.get("data") : null;
  if (data === null || !data.isArray()) return new Outcome(Reason.BadBody, what + "body has no \"data\" list");
  for (let i = 0; i < data.length; i++) {
    const item = data.at(i) as JsonValue;
    if (!item.isObject()) continue;
    const id = item.get("id");
    if (id === null || !id.stringEquals(model)) continue;
    if (!needLoaded) return new Outcome(Reason.Ok, what + "lists " + quoteShort(model));
    let status = item.get("status");
    if (status !== null && status.isObject()) status = status.get("value");
    if (status !== null && status.stringEquals("loaded")) return new Outcome(Reason.Ok, what + quoteShort(model) + " is loaded");
    const shown = status !== null && status.isString() ? status.asString() : "without a status";
    return new Outcome(Reason.NotLoaded, what + quoteShort(model) + " is " + shortened(shown, SHOWN_MAX));
  }
  return new Outcome(Reason.ModelMissing, what + quoteShort(model) + " is not listed");
}

/** Ollama's `/api/ps`: `{"models":[{"name":"llama3:latest","model":"llama3:latest",...}]}`. */
function judgeOllama(root: JsonValue, model: string, what: string): Outcome {
  const models = root.isObject() ? root.get("models") : null;
  if (models === null || !models.isArray()) return new Outcome(Reason.BadBody, what + "body has no \"models\" list");
  const tagged = model.indexOf(":") < 0 ? model + ":latest" : model;
  for (let i = 0; i < models.length; i++) {
    const item = models.at(i) as JsonValue;
    if (!item.isObject()) continue;
    const name = item.get("name");
    const id = item.get("model");
    if ((name !== null && (name.stringEquals(model) || name.stringEquals(tagged))) ||
      (id !== null && (id.stringEquals(model) || id.stringEquals(tagged)))) {
      return new Outcome(Reason.Ok, what + quoteShort(model) + " is running");
    }
  }
  return new Outcome(Reason.ModelMissing, what + quoteShort(model) + " is not running");
}

/** Whether the bytes of `body` contain the UTF-8 of `needle`. */
export function contains(body: ArrayBuffer, needle: string): bool {
  const n = String.UTF8.encode(needle);
  const nl = n.byteLength;
  const bl = body.byteLength;
  if (nl == 0) return true;
  const b = changetype<usize>(body);
  const p = changetype<usize>(n);
  const first = load<u8>(p);
  for (let i = 0; i + nl <= bl; i++) {
    if (load<u8>(b + <usize>i) != first) continue;
    if (memory.compare(b + <usize>i, p, <usize>nl) == 0) return true;
  }
  return false;
}

function quoteShort(s: string): string {
  return "\"" + shortened(s, SHOWN_MAX) + "\"";
}
