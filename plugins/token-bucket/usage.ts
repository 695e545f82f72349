// Finds the `usage` a model server reports, in a response fed chunk by chunk as it passes (never
// buffered): a JSON body, or a stream of server-sent events whose last chunk carries it. Pure.
//
// The scanner reads bytes, not events: it follows JSON strings (so text inside a message never
// matches), and when a string `"usage"` is followed by `:` and an object, it copies that object
// (at most MAX_USAGE_BYTES) until its closing brace and reads it. Either shape counts:
//   {"prompt_tokens", "completion_tokens", "total_tokens"}   (OpenAI chat and completions, vLLM, TGI)
//   {"input_tokens", "output_tokens", "total_tokens"}        (OpenAI responses)
// The tokens used are `total_tokens`, else prompt + completion (input + output); each an integer
// 0..10^12. The last usage that reads well wins (servers that report cumulative usage in every
// chunk end with the final count). A raw line break ends a string (it cannot occur inside a JSON
// string), so a stray quote in an SSE comment cannot hide the rest of the stream.

import { JsonLimits, JsonValue, parseJson } from "../../assembly/json/index";

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
  private capture: ArrayBuffer | null = null;
  private captured: i32 = 0;
  private depth: i32 = 0;
  private inString: bool = false;
  private escaped: bool = false;

  feed(chunk: ArrayBuffer): void {
    this.feedRaw(changetype<usize>(chunk), chunk.byteLength);
  }

  feedRaw(p: usize, len: i32): void {
    let state = this.state;
    let i = 0;
    while (i < len) {
      const c = <u32>load<u8>(p + <usize>i);
      switch (state) {
        case OUT: {
          if (c == 0x22) {
            state = STR;
            this.matched = 0;
          }
          break;
        }
        case STR: {
          if (c == 0x22) {
            state = this.matched == KEY_LENGTH ? AFTER_KEY : OUT;
          } else if (c == 0x5c) {
            state = STR_ESC;
            this.matched = -1;
          } else if (c == 0x0a || c == 0x0d) {
            state = OUT;
          } else {
            const m = this.matched;
            this.matched = m >= 0 && m < KEY_LENGTH && c == keyByte(m) ? m + 1 : -1;
          }
          break;
        }
        case STR_ESC: {
          state = c == 0x0a || c == 0x0d ? OUT : STR;
          break;
        }
        case AFTER_KEY:
        case AFTER_COLON: {
          if (c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d) break;
          if (state == AFTER_KEY && c == 0x3a) {
            state = AFTER_COLON;
            break;
          }
          if (state == AFTER_COLON && c == 0x7b) {
            state = CAPTURE;
            this.startCapture();
            break;
          }
          // Not `"usage": {`: this byte is read again outside.
          state = OUT;
          continue;
        }
        default: {
          // CAPTURE
          if (!this.append(c)) {
            this.rejected++;
            state = OUT;
            break;
          }
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
              this.finish();
              state = OUT;
            }
          }
        }
      }
      i++;
    }
    this.state = state;
  }

  private startCapture(): void {
    let buf = this.capture;
    if (buf === null) {
      buf = new ArrayBuffer(MAX_USAGE_BYTES);
      this.capture = buf;
    }
    store<u8>(changetype<usize>(buf), 0x7b);
    this.captured = 1;
    this.depth = 1;
    this.inString = false;
    this.escaped = false;
  }

  private append(c: u32): bool {
    if (this.captured >= MAX_USAGE_BYTES) return false;
    store<u8>(changetype<usize>(this.capture) + <usize>this.captured, <u8>c);
    this.captured++;
    return true;
  }

  /** Reads the captured object; keeps it when it is a usage. */
  private finish(): void {
    const buf = this.capture as ArrayBuffer;
    const limits = new JsonLimits();
    limits.maxDepth = 8;
    const parsed = parseJson(buf.slice(0, this.captured), limits);
    const usage = parsed.ok ? parsed.value : null;
    if (usage === null) {
      this.rejected++;
      return;
    }
    const total = count(usage, "total_tokens");
    let prompt = count(usage, "prompt_tokens");
    if (prompt < 0) prompt = count(usage, "input_tokens");
    let completion = count(usage, "completion_tokens");
    if (completion < 0) completion = count(usage, "output_tokens");
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

/** Member `name` as a count 0..10^12, or -1. */
function count(obj: JsonValue, name: string): i64 {
  const v = obj.get(name);
  if (v === null || !v.isInteger()) return -1;
  const n = v.asInteger();
  return n >= 0 && n <= MAX_COUNT ? n : -1;
}
