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
// 0..10^12. The last usage that reads well wins (servers that report cumulative usage in every
// chunk end with the final count). A raw line break ends a string (it cannot occur inside a JSON
// string), so a stray quote in an SSE comment cannot hide the rest of the stream.

import { JsonLimits, JsonResult, JsonValue, parseJsonReusing } from "../../assembly/json/index";

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

// @ts-ignore: decorator
@inline
function keyByte(i: i32): u32 {
  // u s a g e
  return i == 0 ? 0x75 : i == 1 ? 0x73 : i == 2 ? 0x61 : i == 3 ? 0x67 : 0x65;
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
        while (c != 0x22) {
          if (++i == len) break;
          c = <u32>load<u8>(p + <usize>i);
        }
        if (i == len) break;
        state = STR;
        matched = 0;
      } else if (state == STR) {
        // Inside a string only its end, an escape or a line break matters, once "usage" is out.
        while (matched < 0 && c != 0x22 && c != 0x5c && c != 0x0a && c != 0x0d) {
          if (++i == len) break;
          c = <u32>load<u8>(p + <usize>i);
        }
        if (i == len) break;
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
        // CAPTURE
        if (this.captured >= MAX_USAGE_BYTES) {
          this.rejected++;
          state = OUT;
        } else {
          this.captured++;
          if (this.inString) {
            if (this.escaped) this.escaped = false;
            else if (c == 0x5c) this.escaped = true;
            else if (c == 0x22) this.inString = false;
          } else if (c == 0x22) {
            this.inString = true;
          } else if (c == 0x7b) {
            this.depth++;
          } else if (c == 0x7d) {
            if (--this.depth == 0) {
              this.finish(p + <usize>from, i + 1 - from);
              state = OUT;
            }
          }
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
    let bytes: ArrayBuffer;
    if (this.copied == 0) {
      bytes = new ArrayBuffer(n);
      memory.copy(changetype<usize>(bytes), ptr, <usize>n);
    } else {
      this.keep(ptr, n);
      bytes = (this.capture as ArrayBuffer).slice(0, this.copied);
      this.copied = 0;
    }
    const parsed = parseJsonReusing(bytes, USAGE_LIMITS, spent);
    spent = parsed;
    const usage = parsed.ok ? parsed.value : null;
    if (usage === null) {
      this.rejected++;
      return;
    }
    let m = member;
    if (m === null) member = m = new JsonValue(usage.tree, 0);
    const total = count(usage, "total_tokens", m);
    let prompt = count(usage, "prompt_tokens", m);
    if (prompt < 0) prompt = count(usage, "input_tokens", m);
    let completion = count(usage, "completion_tokens", m);
    if (completion < 0) completion = count(usage, "output_tokens", m);
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

/** Member `name` as a count 0..10^12, or -1 (read through `v`). */
function count(obj: JsonValue, name: string, v: JsonValue): i64 {
  if (!obj.getInto(name, v) || !v.isInteger()) return -1;
  const n = v.asInteger();
  return n >= 0 && n <= MAX_COUNT ? n : -1;
}
