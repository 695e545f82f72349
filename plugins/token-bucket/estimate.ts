// What a request reserves, read from its body before it goes upstream, and the body rewrite that
// serves a request smaller (clamped max_tokens). Pure: the stage passes the parsed body.
//
// reservation = prompt estimate + max_tokens × n
// - prompt estimate: ceil(bytes / bytes_per_token) where bytes are the string values (not the
//   keys) anywhere inside the configured prompt fields (`messages`, `prompt`, `input`,
//   `instructions`, `tools`), counted as sent (escapes as written, quotes left out).
// - max_tokens: the largest of the completion limits of the request's API given: `max_tokens` and
//   `max_completion_tokens` (Chat Completions, Completions, and the servers that copy them), or
//   `max_output_tokens` (OpenAI's Responses API, a path ending `/responses`); else
//   default_max_tokens. null counts as absent. Another API's field is not read: its upstream
//   ignores it, so it limits nothing.
// - n: the number of choices (1 when absent or null).
// A body that is not a JSON object (not JSON, too large to read, an array...) reserves
// ceil(its bytes / bytes_per_token) + default_max_tokens; no body reserves nothing.

import { JsonKind, JsonTree, JsonValue } from "../../assembly/json/index";
import { nodeStringEquals } from "../../assembly/json/reader";
import { MAX_TOKENS_VALUE } from "./config";

/** Most choices (`n`) a request may ask for (OpenAI's bound). */
export const MAX_CHOICES: i64 = 128;

/**
 * The body fields that limit a completion's tokens. An API is named by the field a clamp adds to
 * a body without one: MaxTokens for Chat Completions and the like (which also read
 * MaxCompletionTokens), MaxOutputTokens for the Responses API.
 */
export enum LimitField { MaxTokens, MaxCompletionTokens, MaxOutputTokens }
const LIMIT_FIELDS = 3;
const LIMIT_NAMES: string[] = ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/** What is wrong with a request's token fields (answered with a 400; see errors.ts). */
export enum Fault { None, NotInteger, BelowMinimum, AboveMaximum }

export class TokenRequest {
  /** Estimated prompt tokens. */
  prompt: i64 = 0;
  /** Completion tokens per choice: the request's (explicit) or default_max_tokens. */
  maxTokens: i64 = 0;
  explicit: bool = false;
  /** The LimitField that gave `maxTokens` when explicit (the first of equal ones), else -1. */
  givenField: i32 = -1;
  /** Choices (n). */
  choices: i64 = 1;
  /** A field that is not a valid value: `fault` and its name. */
  fault: Fault = Fault.None;
  faultField: string = "";
  faultValue: string = "";
  /** Per LimitField: the value as given (-1: absent, null or invalid). */
  readonly limitValues: StaticArray<i64> = new StaticArray<i64>(LIMIT_FIELDS);
  /** Per LimitField: the byte span of the value (start -1 when absent; the last of duplicates). */
  readonly limitStarts: StaticArray<i32> = new StaticArray<i32>(LIMIT_FIELDS);
  readonly limitEnds: StaticArray<i32> = new StaticArray<i32>(LIMIT_FIELDS);
  /** Byte offset of the body object's `{` (-1 when the body is not an object). */
  objectStart: i32 = -1;
  /** The object has members (an inserted member needs a comma). */
  objectHasMembers: bool = false;

  reset(): TokenRequest {
    this.prompt = 0;
    this.maxTokens = 0;
    this.explicit = false;
    this.givenField = -1;
    this.choices = 1;
    this.fault = Fault.None;
    this.faultField = "";
    this.faultValue = "";
    for (let f = 0; f < LIMIT_FIELDS; f++) {
      unchecked(this.limitValues[f] = -1);
      unchecked(this.limitStarts[f] = -1);
      unchecked(this.limitEnds[f] = -1);
    }
    this.objectStart = -1;
    this.objectHasMembers = false;
    return this;
  }

  /** Tokens the request reserves: prompt + max_tokens × n. */
  get reservation(): i64 {
    return this.prompt + this.maxTokens * this.choices;
  }
}

/** The body field named by a LimitField. */
export function limitFieldName(field: LimitField): string {
  return unchecked(LIMIT_NAMES[<i32>field]);
}

/**
 * The API a request path (`len` bytes at `p`) calls, by its limit field: MaxOutputTokens for
 * OpenAI's Responses API (a path ending `/responses`, before any query, with or without a final
 * `/`: `/v1/responses`, or behind a prefix), else MaxTokens, for Chat Completions, Completions
 * and the servers that copy them (vLLM, TGI, llama.cpp).
 */
export function apiOfPath(p: usize, len: i32): LimitField {
  let end = 0;
  while (end < len && load<u8>(p + <usize>end) != 0x3F) end++; // ?
  if (end > 0 && load<u8>(p + <usize>(end - 1)) == 0x2F) end--; // a final /
  const at = end - RESPONSES_SUFFIX.length;
  if (at < 0) return LimitField.MaxTokens;
  for (let i = 0; i < RESPONSES_SUFFIX.length; i++) {
    if (<i32>load<u8>(p + <usize>(at + i)) != RESPONSES_SUFFIX.charCodeAt(i)) return LimitField.MaxTokens;
  }
  return LimitField.MaxOutputTokens;
}

const RESPONSES_SUFFIX = "/responses";

/** ceil(bytes / bytesPerToken). */
export function estimateTokens(bytes: i64, bytesPerToken: i64): i64 {
  if (bytes <= 0) return 0;
  return (bytes + bytesPerToken - 1) / bytesPerToken;
}

/** A body that is not read as an object: its bytes estimate the prompt, with the default max_tokens. */
export function readOpaqueRequest(bytes: i64, bytesPerToken: i64, defaultMaxTokens: i64, out: TokenRequest): TokenRequest {
  out.reset();
  out.prompt = estimateTokens(bytes, bytesPerToken);
  out.maxTokens = defaultMaxTokens;
  return out;
}

/**
 * Reads a parsed body: the prompt estimate from `promptFields`, max_tokens and n (with a fault
 * for a value that is not a valid count). Anything but an object is read as opaque bytes.
 */
export function readTokenRequest(
  doc: JsonValue, bodyBytes: i64, promptFields: string[], bytesPerToken: i64, defaultMaxTokens: i64, api: LimitField, out: TokenRequest,
): TokenRequest {
  if (!doc.isObject()) return readOpaqueRequest(bodyBytes, bytesPerToken, defaultMaxTokens, out);
  out.reset();
  out.objectStart = doc.start;
  out.objectHasMembers = doc.length > 0;
  const tree = doc.tree;
  let text: i64 = 0;
  // One pass over the members; with duplicates the last one counts, as JSON.parse reads them.
  const count = doc.length;
  let n = doc.node + 1;
  for (let i = 0; i < count; i++) {
    const value = n + 1;
    const limit = limitFieldOf(tree, n, api);
    if (limit >= 0) {
      unchecked(out.limitValues[limit] = readCount(tree, value, unchecked(LIMIT_NAMES[limit]), MAX_TOKENS_VALUE, 0, out));
      unchecked(out.limitStarts[limit] = tree.word(value, 1));
      unchecked(out.limitEnds[limit] = tree.word(value, 2));
    } else if (isKey(tree, n, "n")) {
      const choices = readCount(tree, value, "n", MAX_CHOICES, 1, out);
      out.choices = choices < 0 ? 1 : choices;
    } else {
      for (let f = 0; f < promptFields.length; f++) {
        if (isKey(tree, n, unchecked(promptFields[f]))) {
          text += stringBytes(tree, value);
          break;
        }
      }
    }
    n = tree.skip(value);
  }
  out.prompt = estimateTokens(text, bytesPerToken);
  let given: i64 = -1;
  for (let f = 0; f < LIMIT_FIELDS; f++) {
    const v = unchecked(out.limitValues[f]);
    if (v > given) {
      given = v;
      out.givenField = f;
    }
  }
  out.explicit = given >= 0;
  out.maxTokens = given >= 0 ? given : defaultMaxTokens;
  return out;
}

/** The LimitField of `api` the member key at `node` names, or -1. */
function limitFieldOf(tree: JsonTree, node: i32, api: LimitField): i32 {
  // Each is at least "max_tokens" long: one test skips them on most members.
  if (tree.word(node, 2) - tree.word(node, 1) < 12) return -1;
  if (api == LimitField.MaxOutputTokens) return isKey(tree, node, "max_output_tokens") ? LimitField.MaxOutputTokens : -1;
  if (isKey(tree, node, "max_tokens")) return LimitField.MaxTokens;
  return isKey(tree, node, "max_completion_tokens") ? LimitField.MaxCompletionTokens : -1;
}

function isKey(tree: JsonTree, node: i32, name: string): bool {
  // Cheap length test first (keys are compared on most members of every request); an escaped
  // key is longer in the source than its text and is compared in full.
  const len = tree.word(node, 2) - tree.word(node, 1) - 2;
  if (len < name.length) return false;
  return nodeStringEquals(tree, node, name);
}

/** One value object, rebound for each count read (no allocation per request). */
let spare: JsonValue | null = null;

function valueAt(tree: JsonTree, node: i32): JsonValue {
  let v = spare;
  if (v === null) {
    v = new JsonValue(tree, node);
    spare = v;
    return v;
  }
  return v.bind(tree, node);
}

/**
 * The count at `node`: -1 for null, else an integer lo..hi, or -1 with a fault recorded (the
 * first fault of the request is kept).
 */
function readCount(tree: JsonTree, node: i32, field: string, hi: i64, lo: i64, out: TokenRequest): i64 {
  const kind = tree.kindOf(node);
  if (kind == JsonKind.Null) return -1;
  const v = valueAt(tree, node);
  let fault = Fault.None;
  if (!v.isInteger()) fault = Fault.NotInteger;
  else if (v.asInteger() < lo) fault = Fault.BelowMinimum;
  else if (v.asInteger() > hi) fault = Fault.AboveMaximum;
  if (fault == Fault.None) return v.asInteger();
  if (out.fault == Fault.None) {
    out.fault = fault;
    out.faultField = field;
    out.faultValue = v.raw();
  }
  return -1;
}

/** Bytes of every string value (not keys) in the subtree at `node`, without quotes. */
function stringBytes(tree: JsonTree, node: i32): i64 {
  const kind = tree.kindOf(node);
  if (kind == JsonKind.String) return <i64>(tree.word(node, 2) - tree.word(node, 1) - 2);
  if (kind < JsonKind.Array) return 0;
  const count = tree.word(node, 0) >>> 8;
  let sum: i64 = 0;
  let n = node + 1;
  if (kind == JsonKind.Array) {
    for (let i = 0; i < count; i++) {
      sum += stringBytes(tree, n);
      n = tree.skip(n);
    }
  } else {
    for (let i = 0; i < count; i++) {
      sum += stringBytes(tree, n + 1);
      n = tree.skip(n + 1);
    }
  }
  return sum;
}

/**
 * The body with its completion limit lowered to `maxTokens`: each limit field (max_tokens,
 * max_completion_tokens, max_output_tokens) that is above it or null is replaced (the last of
 * duplicates, which is what the upstream reads); with none, `insert` (the limit field of the
 * request's API) is added as the first member. Null when the request is not an object.
 */
export function rewriteMaxTokens(body: ArrayBuffer, req: TokenRequest, maxTokens: i64, insert: LimitField): ArrayBuffer | null {
  if (req.objectStart < 0) return null;
  const digits = maxTokens.toString();
  // The spans to replace, in body order (at most three: a small insertion sort).
  const starts = new StaticArray<i32>(LIMIT_FIELDS);
  const ends = new StaticArray<i32>(LIMIT_FIELDS);
  let count = 0;
  let present = false;
  for (let f = 0; f < LIMIT_FIELDS; f++) {
    const start = unchecked(req.limitStarts[f]);
    if (start < 0) continue;
    present = true;
    const value = unchecked(req.limitValues[f]);
    // A value already at or under the limit stays as it is; null (no limit) does not.
    if (value >= 0 && value <= maxTokens) continue;
    let i = count++;
    while (i > 0 && unchecked(starts[i - 1]) > start) {
      unchecked(starts[i] = starts[i - 1]);
      unchecked(ends[i] = ends[i - 1]);
      i--;
    }
    unchecked(starts[i] = start);
    unchecked(ends[i] = unchecked(req.limitEnds[f]));
  }
  if (!present) {
    const member = "\"" + unchecked(LIMIT_NAMES[insert]) + "\":" + digits + (req.objectHasMembers ? "," : "");
    const at = new StaticArray<i32>(1);
    at[0] = req.objectStart + 1;
    return splice(body, at, at, 1, member);
  }
  if (count == 0) return body;
  return splice(body, starts, ends, count, digits);
}

/** `body` with each of the first `count` spans [starts[i], ends[i]) (in order, apart) replaced by `text`. */
function splice(body: ArrayBuffer, starts: StaticArray<i32>, ends: StaticArray<i32>, count: i32, text: string): ArrayBuffer {
  const t = String.UTF8.encode(text);
  const tLength = t.byteLength;
  const size = body.byteLength;
  let outSize = size;
  for (let i = 0; i < count; i++) outSize += tLength - (unchecked(ends[i]) - unchecked(starts[i]));
  const out = new ArrayBuffer(outSize);
  const dst = changetype<usize>(out);
  const src = changetype<usize>(body);
  let o: usize = 0;
  let from = 0;
  for (let i = 0; i < count; i++) {
    const start = unchecked(starts[i]);
    memory.copy(dst + o, src + <usize>from, <usize>(start - from));
    o += <usize>(start - from);
    memory.copy(dst + o, changetype<usize>(t), <usize>tLength);
    o += <usize>tLength;
    from = unchecked(ends[i]);
  }
  memory.copy(dst + o, src + <usize>from, <usize>(size - from));
  return out;
}
