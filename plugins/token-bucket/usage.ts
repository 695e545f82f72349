// Finds the `usage` a model server reports, in a response fed chunk by chunk as it passes (never
// buffered): a JSON body, or a stream of server-sent events whose last chunk carries it. Pure.
//
// The scanner reads bytes, not events: it follows JSON strings (so text inside a message never
// matches), and when a string `"usage"` is followed by `:` and an object, it reads that object
// (at most MAX_USAGE_BYTES) once its closing brace arrives: where it lies when one chunk holds it,
// else copied as the chunks pass. Either shape counts:
//   {"prompt_tokens", "completion_tokens", "total_tokens"}   (OpenAI chat and completions, vLLM, TGI)
//   {"input_tokens", "output_tokens", "total_tokens"}        (OpenAI responses)
// The tokens used are `total_tokens`, else prompt + completion (input + output); each an integer
// 0..10^12, and a usage with any of them out of range is not read (a negative part is not 0). The last usage that reads well wins (servers that report cumulative usage in every
// chunk end with the final count). A raw line break ends a string (it cannot occur inside a JSON
// string), so a stray quote in an SSE comment cannot hide the rest of the stream.

import { JsonLimits, JsonResult, JsonValue, parseJsonReusing } from "../../assembly/json/index";
import { equalsAscii } from "../../assembly/runtime/bytes";

/** Largest usage object read. */
export const MAX_USAGE_BYTES: i32 = 4096;
const MAX_COUNT: i64 = 1_000_000_000_000;

const OUT = 0;
const STR = 1;
const STR_ESC = 2;
const AFTER_KEY = 3;
const AFTER_COLON = 4;
const CAPTURE = 5;

// "usage"
const KEY_LENGTH = 5;
// `usage"` as little-endian words: bytes 0-3 and 4-5.
const USAGE_0_4: u32 = 0x67617375; // u s a g
const USAGE_4_6: u16 = 0x2265; // e "

// @ts-ignore: decorator
@inline
function keyByte(i: i32): u32 {
  // u s a g e
  return i == 0 ? 0x75 : i == 1 ? 0x73 : i == 2 ? 0x61 : i == 3 ? 0x67 : 0x65;
}

// The scanner spends most of a response skipping: to the next quote outside strings, to a
// string's end (or escape, or line break) inside one. Eight bytes a step there: a byte-at-a-time
// loop cost some 25 instructions a byte of a completion. For a word `v`, `zeroBytes(v ^ pattern)`
// flags the bytes equal to the pattern's; a flag can be wrong only above a right one (a borrow
// carries upwards), so the lowest flag, and the lowest of several OR-ed, is a true match.

const ONES: u64 = 0x0101010101010101;
const HIGHS: u64 = 0x8080808080808080;
const QUOTES: u64 = 0x2222222222222222;
const BACKSLASHES: u64 = 0x5C5C5C5C5C5C5C5C;
const LFS: u64 = 0x0A0A0A0A0A0A0A0A;
const CRS: u64 = 0x0D0D0D0D0D0D0D0D;

// @ts-ignore: decorator
@inline
function zeroBytes(x: u64): u64 {
  return (x - ONES) & ~x & HIGHS;
}

/** The first index from `i` of a quote among the `len` bytes at `p`, or `len`. */
function skipToQuote(p: usize, i: i32, len: i32): i32 {
  while (i + 8 <= len) {
    const found = zeroBytes(load<u64>(p + <usize>i) ^ QUOTES);
    if (found != 0) return i + <i32>(ctz(found) >> 3);
    i += 8;
  }
  while (i < len && load<u8>(p + <usize>i) != 0x22) i++;
  return i;
}

/** The first index from `i` of a quote, backslash, LF or CR among the `len` bytes at `p`, or `len`. */
function skipToStringStop(p: usize, i: i32, len: i32): i32 {
  while (i + 8 <= len) {
    const v = load<u64>(p + <usize>i);
    const found = zeroBytes(v ^ QUOTES) | zeroBytes(v ^ BACKSLASHES) | zeroBytes(v ^ LFS) | zeroBytes(v ^ CRS);
    if (found != 0) return i + <i32>(ctz(found) >> 3);
    i += 8;
  }
  while (i < len) {
    const c = load<u8>(p + <usize>i);
    if (c == 0x22 || c == 0x5c || c == 0x0a || c == 0x0d) break;
    i++;
  }
  return i;
}

// One parse of a usage object at a time (finish() reads it before it returns, and the ABI is
// single-threaded), so every scanner shares the limits and reuses the last parse's objects.
const USAGE_LIMITS = usageLimits();
let spent: JsonResult | null = null;
let member: JsonValue | null = null;

function usageLimits(): JsonLimits {
  const limits = new JsonLimits();
  limits.maxDepth = 8;
  return limits;
}

export class UsageScanner {
  /** A usage object was read. */
  found: bool = false;
  /** Tokens of the last usage read (-1 before). */
  tokens: i64 = -1;
  promptTokens: i64 = -1;
  completionTokens: i64 = -1;
  /** Usage objects that were too large or did not read as usage. */
  rejected: i32 = 0;

  private state: i32 = OUT;
  /** Bytes of "usage" matched by the current string (-1: not it). */
  private matched: i32 = 0;
  /**
   * The usage object being captured: its first `copied` bytes, when it began in an earlier chunk
   * (one that lies in a single chunk, the usual case, is read where it is and never copied).
   */
  private capture: ArrayBuffer | null = null;
  private copied: i32 = 0;
  /** Bytes of the usage object so far (copied or not). */
  private captured: i32 = 0;
  private depth: i32 = 0;
  private inString: bool = false;
  private escaped: bool = false;

  /** Back to a new response's state (a long usage object's copy is let go). */
  reset(): UsageScanner {
    this.found = false;
    this.tokens = -1;
    this.promptTokens = -1;
    this.completionTokens = -1;
    this.rejected = 0;
    this.state = OUT;
    this.matched = 0;
    this.capture = null;
    this.copied = 0;
    this.captured = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    return this;
  }

  feed(chunk: ArrayBuffer): void {
    this.feedRaw(changetype<usize>(chunk), chunk.byteLength);
  }

  feedRaw(p: usize, len: i32): void {
    let state = this.state;
    let matched = this.matched;
    // Where this chunk's part of a usage object being captured starts.
    let from = 0;
    let i = 0;
    while (i < len) {
      let c = <u32>load<u8>(p + <usize>i);
      if (state == OUT) {
        // Outside strings only a quote matters.
        if (c != 0x22) {
          i = skipToQuote(p, i + 1, len);
          if (i == len) break;
        }
        if (i + 7 <= len) {
          // The whole string's start is in this chunk: `usage"` is the key, else the string is
          // skipped to its end in one go (most of a response's strings are short).
          if (load<u32>(p + <usize>i, 1) == USAGE_0_4 && load<u16>(p + <usize>i, 5) == USAGE_4_6) {
            state = AFTER_KEY;
            i += 7;
            continue;
          }
          const stop = skipToStringStop(p, i + 1, len);
          if (stop == len) {
            state = STR;
            matched = -1;
            break;
          }
          i = stop;
          c = <u32>load<u8>(p + <usize>i);
          if (c == 0x5c) {
            state = STR_ESC;
            matched = -1;
          }
          // A quote ends the string, a line break ends it too: outside again.
          i++;
          continue;
        }
        state = STR;
        matched = 0;
      } else if (state == STR) {
        // Inside a string only its end, an escape or a line break matters, once "usage" is out.
        if (matched < 0 && c != 0x22 && c != 0x5c && c != 0x0a && c != 0x0d) {
          i = skipToStringStop(p, i + 1, len);
          if (i == len) break;
          c = <u32>load<u8>(p + <usize>i);
        }
        if (c == 0x22) {
          state = matched == KEY_LENGTH ? AFTER_KEY : OUT;
        } else if (c == 0x5c) {
          state = STR_ESC;
          matched = -1;
        } else if (c == 0x0a || c == 0x0d) {
          state = OUT;
        } else {
          matched = matched >= 0 && matched < KEY_LENGTH && c == keyByte(matched) ? matched + 1 : -1;
        }
      } else if (state == STR_ESC) {
        state = c == 0x0a || c == 0x0d ? OUT : STR;
      } else if (state == AFTER_KEY || state == AFTER_COLON) {
        if (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) {
          i++;
          continue;
        }
        if (state == AFTER_KEY && c == 0x3a) {
          state = AFTER_COLON;
        } else if (state == AFTER_COLON && c == 0x7b) {
          state = CAPTURE;
          from = i;
          this.captured = 1;
          this.copied = 0;
          this.depth = 1;
          this.inString = false;
          this.escaped = false;
        } else {
          // Not `"usage": {`: this byte is read again outside.
          state = OUT;
          continue;
        }
      } else {
        // CAPTURE: bytes are counted (not copied) and strings and nesting followed to the
        // closing brace, or until the object is too large.
        let captured = this.captured;
        let depth = this.depth;
        let inString = this.inString;
        let escaped = this.escaped;
        let closed = false;
        while (true) {
          if (captured >= MAX_USAGE_BYTES) {
            this.rejected++;
            state = OUT;
            break;
          }
          captured++;
          if (inString) {
            if (escaped) escaped = false;
            else if (c == 0x5c) escaped = true;
            else if (c == 0x22) inString = false;
          } else if (c == 0x22) {
            inString = true;
          } else if (c == 0x7b) {
            depth++;
          } else if (c == 0x7d) {
            if (--depth == 0) {
              closed = true;
              break;
            }
          }
          if (++i == len) break;
          c = <u32>load<u8>(p + <usize>i);
        }
        this.captured = captured;
        this.depth = depth;
        this.inString = inString;
        this.escaped = escaped;
        // The chunk ended inside the object (a refusal or the closing brace stop short of it).
        if (i == len) break;
        if (closed) {
          this.finish(p + <usize>from, i + 1 - from);
          state = OUT;
        }
      }
      i++;
    }
    // A usage object that goes on in the next chunk: keep this chunk's part of it.
    if (state == CAPTURE) this.keep(p + <usize>from, len - from);
    this.state = state;
    this.matched = matched;
  }

  /** Appends `n` bytes at `ptr` to the captured object (whole: `captured` counts them). */
  private keep(ptr: usize, n: i32): void {
    let buf = this.capture;
    if (buf === null) {
      buf = new ArrayBuffer(MAX_USAGE_BYTES);
      this.capture = buf;
    }
    memory.copy(changetype<usize>(buf) + <usize>this.copied, ptr, <usize>n);
    this.copied += n;
  }

  /** Reads the captured object, whose last `n` bytes are at `ptr`; keeps it when it is a usage. */
  private finish(ptr: usize, n: i32): void {
    let at = ptr;
    let size = n;
    if (this.copied > 0) {
      this.keep(ptr, n);
      at = changetype<usize>(this.capture);
      size = this.copied;
      this.copied = 0;
    }
    let total: i64;
    let prompt: i64;
    let completion: i64;
    if (readFlat(at, size)) {
      total = unchecked(FLAT[TOTAL]);
      prompt = unchecked(FLAT[PROMPT]);
      const input = unchecked(FLAT[INPUT]);
      completion = unchecked(FLAT[COMPLETION]);
      const output = unchecked(FLAT[OUTPUT]);
      // A count out of range makes the whole usage unreadable (settled as the reservation), not
      // a part taken as 0.
      if (anyNotACount(total, prompt, input, completion, output)) {
        this.rejected++;
        return;
      }
      if (prompt < 0) prompt = input;
      if (completion < 0) completion = output;
    } else {
      const bytes = new ArrayBuffer(size);
      memory.copy(changetype<usize>(bytes), at, <usize>size);
      const parsed = parseJsonReusing(bytes, USAGE_LIMITS, spent);
      spent = parsed;
      const usage = parsed.ok ? parsed.value : null;
      if (usage === null) {
        this.rejected++;
        return;
      }
      let m = member;
      if (m === null) member = m = new JsonValue(usage.tree, 0);
      total = count(usage, "total_tokens", m);
      prompt = count(usage, "prompt_tokens", m);
      const input = count(usage, "input_tokens", m);
      completion = count(usage, "completion_tokens", m);
      const output = count(usage, "output_tokens", m);
      if (anyNotACount(total, prompt, input, completion, output)) {
        this.rejected++;
        return;
      }
      if (prompt < 0) prompt = input;
      if (completion < 0) completion = output;
    }
    let tokens: i64 = total;
    if (tokens < 0 && (prompt >= 0 || completion >= 0)) tokens = max<i64>(prompt, 0) + max<i64>(completion, 0);
    if (tokens < 0) {
      this.rejected++;
      return;
    }
    this.found = true;
    this.tokens = tokens;
    this.promptTokens = prompt;
    this.completionTokens = completion;
  }
}

/** A member that is present but not a count (negative, fractional, above 10^12, not a number). */
const NOT_A_COUNT: i64 = -2;

function anyNotACount(a: i64, b: i64, c: i64, d: i64, e: i64): bool {
  return a == NOT_A_COUNT || b == NOT_A_COUNT || c == NOT_A_COUNT || d == NOT_A_COUNT || e == NOT_A_COUNT;
}

// The counts `readFlat` finds, by member (-1: absent; NOT_A_COUNT).
const TOTAL = 0;
const PROMPT = 1;
const INPUT = 2;
const COMPLETION = 3;
const OUTPUT = 4;
const FLAT = new StaticArray<i64>(5);

/**
 * Reads the usage object of `n` bytes at `p` when it has the shape servers send: members whose
 * keys are plain ASCII (no escapes) and whose values are unsigned integers of at most 18 digits
 * without a leading zero, JSON whitespace between. Fills FLAT as the JSON parse and `count` would
 * (the last of duplicate keys counts; above 10^12 is not a count). False for anything else (nested
 * objects, other values, escapes, malformed JSON), which the JSON parser then reads.
 */
function readFlat(p: usize, n: i32): bool {
  for (let k = 0; k < 5; k++) unchecked((FLAT[k] = -1));
  // The scanner hands over `{` ... `}`.
  let i = skipWs(p, 1, n);
  if (i < n && load<u8>(p + <usize>i) == 0x7d) return i + 1 == n;
  while (i < n) {
    if (i >= n || load<u8>(p + <usize>i) != 0x22) return false;
    const key = ++i;
    while (i < n) {
      const c = <u32>load<u8>(p + <usize>i);
      if (c == 0x22) break;
      if (c == 0x5c || c < 0x20 || c >= 0x80) return false;
      i++;
    }
    if (i >= n) return false;
    const member = memberOf(p + <usize>key, i - key);
    i = skipWs(p, i + 1, n);
    if (i >= n || load<u8>(p + <usize>i) != 0x3a) return false;
    i = skipWs(p, i + 1, n);
    if (i >= n) return false;
    const first = <u32>load<u8>(p + <usize>i) - 0x30;
    if (first > 9) return false;
    let value: i64 = 0;
    const digits = i;
    while (i < n) {
      const d = <u32>load<u8>(p + <usize>i) - 0x30;
      if (d > 9) break;
      value = value * 10 + <i64>d;
      i++;
    }
    if (i - digits > 18 || (first == 0 && i - digits > 1)) return false;
    if (member >= 0) unchecked((FLAT[member] = value <= MAX_COUNT ? value : NOT_A_COUNT));
    // A fraction or an exponent is neither `,` nor `}`.
    i = skipWs(p, i, n);
    if (i >= n) return false;
    const c = load<u8>(p + <usize>i);
    if (c == 0x7d) return i + 1 == n;
    if (c != 0x2c) return false;
    i = skipWs(p, i + 1, n);
  }
  return false;
}

function skipWs(p: usize, i: i32, n: i32): i32 {
  while (i < n) {
    const c = load<u8>(p + <usize>i);
    if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
    i++;
  }
  return i;
}

/** Which FLAT entry the key of `len` bytes at `k` is, or -1. */
function memberOf(k: usize, len: i32): i32 {
  if (equalsAscii(k, len, "total_tokens")) return TOTAL;
  if (equalsAscii(k, len, "prompt_tokens")) return PROMPT;
  if (equalsAscii(k, len, "input_tokens")) return INPUT;
  if (equalsAscii(k, len, "completion_tokens")) return COMPLETION;
  if (equalsAscii(k, len, "output_tokens")) return OUTPUT;
  return -1;
}


/** Member `name` as a count 0..10^12, -1 when absent or null, or NOT_A_COUNT (read through `v`). */
function count(obj: JsonValue, name: string, v: JsonValue): i64 {
  if (!obj.getInto(name, v) || v.isNull()) return -1;
  if (!v.isInteger()) return NOT_A_COUNT;
  const n = v.asInteger();
  return n >= 0 && n <= MAX_COUNT ? n : NOT_A_COUNT;
}
