// What a request reserves, read from its body before it goes upstream, and the body rewrite that
// serves a request smaller (clamped max_tokens). Pure: the stage passes the parsed body.
//
// reservation = prompt estimate + max_tokens × n
// - prompt estimate: ceil(bytes / bytes_per_token) where bytes are the string values (not the
//   keys) anywhere inside the configured prompt fields (`messages`, `prompt`, `input`,
//   `instructions`, `tools`), counted as sent (escapes as written, quotes left out).
// - max_tokens: `max_completion_tokens` or `max_tokens` (the larger when both are given), else
//   default_max_tokens. null counts as absent.
// - n: the number of choices (1 when absent or null).
// A body that is not a JSON object (not JSON, too large to read, an array...) reserves
// ceil(its bytes / bytes_per_token) + default_max_tokens; no body reserves nothing.

import { JsonKind, JsonTree, JsonValue } from "../../assembly/json/index";
import { nodeStringEquals } from "../../assembly/json/reader";
import { MAX_TOKENS_VALUE } from "./config";

/** Most choices (`n`) a request may ask for (OpenAI's bound). */
export const MAX_CHOICES: i64 = 128;

/** What is wrong with a request's token fields (answered with a 400; see errors.ts). */
export enum Fault { None, NotInteger, BelowMinimum, AboveMaximum }

export class TokenRequest {
  /** Estimated prompt tokens. */
  prompt: i64 = 0;
  /** Completion tokens per choice: the request's (explicit) or default_max_tokens. */
  maxTokens: i64 = 0;
  explicit: bool = false;
  /** Choices (n). */
  choices: i64 = 1;
  /** A field that is not a valid value: `fault` and its name. */
  fault: Fault = Fault.None;
  faultField: string = "";
  faultValue: string = "";
  /** max_tokens and max_completion_tokens as given (-1: absent, null or invalid). */
  maxTokensValue: i64 = -1;
  maxCompletionValue: i64 = -1;
  /** Byte spans of max_tokens and max_completion_tokens values (-1 when absent). */
  maxTokensStart: i32 = -1;
  maxTokensEnd: i32 = -1;
  maxCompletionStart: i32 = -1;
  maxCompletionEnd: i32 = -1;
  /** Byte offset of the body object's `{` (-1 when the body is not an object). */
  objectStart: i32 = -1;
  /** The object has members (an inserted member needs a comma). */
  objectHasMembers: bool = false;

  reset(): TokenRequest {
    this.prompt = 0;
    this.maxTokens = 0;
    this.explicit = false;
    this.choices = 1;
    this.fault = Fault.None;
    this.faultField = "";
    this.faultValue = "";
    this.maxTokensValue = -1;
    this.maxCompletionValue = -1;
    this.maxTokensStart = -1;
    this.maxTokensEnd = -1;
    this.maxCompletionStart = -1;
    this.maxCompletionEnd = -1;
    this.objectStart = -1;
    this.objectHasMembers = false;
    return this;
  }

  /** Tokens the request reserves: prompt + max_tokens × n. */
  get reservation(): i64 {
    return this.prompt + this.maxTokens * this.choices;
  }
}

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
  doc: JsonValue, bodyBytes: i64, promptFields: string[], bytesPerToken: i64, defaultMaxTokens: i64, out: TokenRequest,
): TokenRequest {
  if (!doc.isObject()) return readOpaqueRequest(bodyBytes, bytesPerToken, defaultMaxTokens, out);
  out.reset();
  out.objectStart = doc.start;
  out.objectHasMembers = doc.length > 0;
  const tree = doc.tree;
  let text: i64 = 0;
  let maxTokens: i64 = -1;
  let maxCompletion: i64 = -1;
  // One pass over the members; with duplicates the last one counts, as JSON.parse reads them.
  const count = doc.length;
  let n = doc.node + 1;
  for (let i = 0; i < count; i++) {
    const value = n + 1;
    if (isKey(tree, n, "max_tokens")) {
      maxTokens = readCount(tree, value, "max_tokens", MAX_TOKENS_VALUE, 0, out);
      out.maxTokensStart = tree.word(value, 1);
      out.maxTokensEnd = tree.word(value, 2);
    } else if (isKey(tree, n, "max_completion_tokens")) {
      maxCompletion = readCount(tree, value, "max_completion_tokens", MAX_TOKENS_VALUE, 0, out);
      out.maxCompletionStart = tree.word(value, 1);
      out.maxCompletionEnd = tree.word(value, 2);
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
  const given = maxTokens > maxCompletion ? maxTokens : maxCompletion;
  out.maxTokensValue = maxTokens;
  out.maxCompletionValue = maxCompletion;
  out.explicit = given >= 0;
  out.maxTokens = given >= 0 ? given : defaultMaxTokens;
  return out;
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
 * The body with its completion limit lowered to `maxTokens`: each of max_tokens and
 * max_completion_tokens that is above it or null is replaced (the last of duplicates, which is
 * what the upstream reads); with neither, `"max_tokens":<maxTokens>` is added as the first member.
 * Null when the request is not an object.
 */
export function rewriteMaxTokens(body: ArrayBuffer, req: TokenRequest, maxTokens: i64): ArrayBuffer | null {
  if (req.objectStart < 0) return null;
  const digits = maxTokens.toString();
  if (req.maxTokensStart < 0 && req.maxCompletionStart < 0) {
    const member = "\"max_tokens\":" + digits + (req.objectHasMembers ? "," : "");
    return splice(body, req.objectStart + 1, req.objectStart + 1, member, -1, -1, "");
  }
  // Replace one or both spans, in body order.
  let aStart = req.maxTokensStart;
  let aEnd = req.maxTokensEnd;
  let bStart = req.maxCompletionStart;
  let bEnd = req.maxCompletionEnd;
  if (aStart < 0 || (bStart >= 0 && bStart < aStart)) {
    const s = aStart;
    const e = aEnd;
    aStart = bStart;
    aEnd = bEnd;
    bStart = s;
    bEnd = e;
  }
  // A value already at or under the limit stays as it is.
  const aText = exceeds(req, aStart, maxTokens) ? digits : "";
  const bText = bStart >= 0 && exceeds(req, bStart, maxTokens) ? digits : "";
  if (aText.length == 0) {
    if (bText.length == 0) return body;
    return splice(body, bStart, bEnd, bText, -1, -1, "");
  }
  return splice(body, aStart, aEnd, aText, bText.length > 0 ? bStart : -1, bEnd, bText);
}

/** Whether the value at byte `start` (max_tokens' or max_completion_tokens') exceeds `limit`; null (no limit) does. */
function exceeds(req: TokenRequest, start: i32, limit: i64): bool {
  const value = start == req.maxTokensStart ? req.maxTokensValue : req.maxCompletionValue;
  return value < 0 || value > limit;
}

/** `body` with [s1, e1) replaced by t1 and, after it, [s2, e2) by t2 (s2 -1: no second edit). */
function splice(body: ArrayBuffer, s1: i32, e1: i32, t1: string, s2: i32, e2: i32, t2: string): ArrayBuffer {
  const a = String.UTF8.encode(t1);
  const b = String.UTF8.encode(t2);
  const size = body.byteLength;
  const second = s2 >= 0;
  const outSize = size - (e1 - s1) + a.byteLength + (second ? b.byteLength - (e2 - s2) : 0);
  const out = new ArrayBuffer(outSize);
  const dst = changetype<usize>(out);
  const src = changetype<usize>(body);
  let o: usize = 0;
  memory.copy(dst, src, <usize>s1);
  o += <usize>s1;
  memory.copy(dst + o, changetype<usize>(a), <usize>a.byteLength);
  o += <usize>a.byteLength;
  const restStart = second ? s2 : size;
  memory.copy(dst + o, src + <usize>e1, <usize>(restStart - e1));
  o += <usize>(restStart - e1);
  if (second) {
    memory.copy(dst + o, changetype<usize>(b), <usize>b.byteLength);
    o += <usize>b.byteLength;
    memory.copy(dst + o, src + <usize>e2, <usize>(size - e2));
  }
  return out;
}
