// Server-sent events for the cache: an incremental reader for upstream chunks (which end a stream
// with `data: [DONE]`), and the two conversions a hit may need, from OpenAI's stream to its whole
// response and back. A stored entry of the kind the request wants is replayed byte for byte; the
// conversions serve the cross cases (a streamed request hitting a whole response, and the
// reverse). A body that cannot be converted is a NotConvertible reason, which the stage treats as
// a miss. All bounded by the caller's byte limits; malformed input is a reason, never a trap.

import { BodyKind, CacheEntry } from "../../assembly/cache/entry";
import { writeCanonical } from "../../assembly/json/canonical";
import { writeEscapedString } from "../../assembly/json/escape";
import { checkJsonAt, JsonCheck, JsonLimits, JsonValue, parseJson } from "../../assembly/json/index";
import { ByteSink } from "../../assembly/json/sink";
import { decodeUtf8Lossy } from "../../assembly/json/utf8";
import { ERROR_MEMBER, Reason } from "./policy";

export const SSE_CONTENT_TYPE = "text/event-stream";
export const JSON_CONTENT_TYPE = "application/json";
/** Highest choice index (`n` - 1) and tool-call index a conversion accepts. */
export const MAX_CHOICE_INDEX: i64 = 127;
export const MAX_TOOL_INDEX: i64 = 127;
/** Nesting accepted inside one event's JSON. */
const EVENT_JSON_DEPTH: i32 = 64;

// ---- reading ----

/** One dispatched event: its `event:` type ("" for the default `message`) and its data. */
export class SseEvent {
  constructor(
    public type: string,
    /** The data lines joined with LF, as UTF-8 bytes. */
    public data: ArrayBuffer,
  ) {}

  /** The data as text. */
  get text(): string {
    return String.UTF8.decode(this.data);
  }

  /** True for the `data: [DONE]` that ends an OpenAI stream. */
  get isDone(): bool {
    return isDoneData(changetype<usize>(this.data), this.data.byteLength);
  }
}

/**
 * Reads an event stream fed in chunks that may split anywhere (inside a line, between CR and LF),
 * following the WHATWG parsing rules: lines end in CRLF, LF or CR; `:` starts a comment; a field
 * is `name: value` (one space after the colon dropped) or a bare name; `data` lines accumulate
 * with LF between them; a blank line dispatches the event (none without data); `event` sets the
 * type; other fields are ignored; a leading byte order mark is skipped; an unterminated last
 * event is dropped. Past `maxBytes` of input it stops and sets `failed`.
 */
export class SseReader {
  /** Dispatched events not yet taken (only with keepEvents). */
  events: SseEvent[] = [];
  /** Events dispatched so far. */
  count: i32 = 0;
  /** A `data: [DONE]` event was dispatched. */
  done: bool = false;
  /** More than maxBytes were fed; nothing after that was read. */
  failed: bool = false;
  /** The data of an event other than `[DONE]` was not one JSON document (only with `checkJson`). */
  notJson: bool = false;
  /**
   * An event was an error: its data a JSON object with a top-level `error` (only with
   * `checkJson`), or its type `error` (as OpenAI's Responses API and Anthropic's streams name one)
   * or `response.failed` (the Responses API's failed generation).
   */
  errorEvent: bool = false;
  /** Events other than `data: [DONE]` dispatched: a stream with none carried no answer. */
  answers: i32 = 0;
  /** Bytes fed. */
  total: i64 = 0;
  private line: ByteSink = new ByteSink(256);
  private data: ByteSink = new ByteSink(256);
  private hasData: bool = false;
  private type: string = "";
  private afterCR: bool = false;
  private started: bool = false;

  constructor(public maxBytes: i64, public keepEvents: bool = true, public checkJson: JsonLimits | null = null) {}

  feed(chunk: ArrayBuffer): void {
    this.feedRaw(changetype<usize>(chunk), chunk.byteLength);
  }

  /** Feeds bytes [offset, offset + length) of `chunk`, clamped to it. */
  feedRange(chunk: ArrayBuffer, offset: i32, length: i32): void {
    const size = chunk.byteLength;
    if (offset < 0) offset = 0;
    if (offset > size) offset = size;
    if (length > size - offset) length = size - offset;
    if (length > 0) this.feedRaw(changetype<usize>(chunk) + <usize>offset, length);
  }

  /** The dispatched events, which the reader then forgets. */
  take(): SseEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Feeds the `len` bytes at `p`. */
  feedBytes(p: usize, len: i32): void {
    this.feedRaw(p, len);
  }

  private feedRaw(p: usize, len: i32): void {
    if (this.failed || len <= 0) return;
    this.total += <i64>len;
    if (this.total > this.maxBytes) {
      this.failed = true;
      this.line = new ByteSink(16);
      this.data = new ByteSink(16);
      return;
    }
    let i = 0;
    if (this.afterCR) {
      this.afterCR = false;
      if (load<u8>(p) == 0x0A) i = 1; // the LF of a CRLF split across chunks
    }
    while (i < len) {
      let j = i;
      while (j < len) {
        const c = load<u8>(p + <usize>j);
        if (c == 0x0A || c == 0x0D) break;
        j++;
      }
      this.line.bytes(p + <usize>i, j - i);
      if (j == len) break;
      const c = load<u8>(p + <usize>j);
      this.endLine();
      i = j + 1;
      if (c == 0x0D) {
        if (i < len) {
          if (load<u8>(p + <usize>i) == 0x0A) i++;
        } else {
          this.afterCR = true;
        }
      }
    }
  }

  private endLine(): void {
    const line = this.line;
    const base = line.at(0);
    let start = 0;
    const n = line.length;
    if (!this.started) {
      this.started = true;
      if (n >= 3 && load<u8>(base) == 0xEF && load<u8>(base, 1) == 0xBB && load<u8>(base, 2) == 0xBF) start = 3;
    }
    line.length = 0;
    if (n == start) {
      this.dispatch();
      return;
    }
    if (load<u8>(base + <usize>start) == 0x3A) return; // comment
    let colon = start;
    while (colon < n && load<u8>(base + <usize>colon) != 0x3A) colon++;
    let value = colon < n ? colon + 1 : n;
    if (value < n && load<u8>(base + <usize>value) == 0x20) value++;
    const nameLen = colon - start;
    const name = base + <usize>start;
    if (nameLen == 4 && load<u32>(name) == 0x61746164) { // "data"
      this.data.bytes(base + <usize>value, n - value);
      this.data.byte(0x0A);
      this.hasData = true;
    } else if (nameLen == 5 && load<u32>(name) == 0x6E657665 && load<u8>(name, 4) == 0x74) { // "event"
      this.type = decodeUtf8Lossy(base + <usize>value, n - value);
    }
  }

  private dispatch(): void {
    if (!this.hasData) {
      this.type = "";
      return;
    }
    const data = this.data;
    const len = data.length - 1; // without the last LF
    if (isDoneData(data.at(0), len)) {
      this.done = true;
    } else {
      // An event after `[DONE]` is no answer: clients stop reading there.
      if (!this.done) this.answers++;
      const type = this.type;
      if (type.length > 0 && (type == "error" || type == "response.failed")) this.errorEvent = true;
      const limits = this.checkJson;
      if (limits !== null && !this.notJson && !this.errorEvent) {
        const check = checkJsonAt(data.at(0), len, limits, ERROR_MEMBER);
        if (check == JsonCheck.NotJson) this.notJson = true;
        else if (check == JsonCheck.JsonWithMember) this.errorEvent = true;
      }
    }
    if (this.keepEvents) this.events.push(new SseEvent(this.type, data.buffer.slice(0, len)));
    this.count++;
    data.length = 0;
    this.hasData = false;
    this.type = "";
  }
}

/**
 * True for a whole OpenAI-style event stream of `len` bytes at `p`: it ends with `data: [DONE]`,
 * has an event before it, and every other event's data is one JSON document, none an error. A
 * stream that is not is never stored (or taken from the shared tier): it would be every client's
 * broken answer until its TTL.
 */
export function isJsonEventStream(p: usize, len: i32, limits: JsonLimits): bool {
  const reader = new SseReader(<i64>len, false, limits);
  reader.feedBytes(p, len);
  return !reader.failed && reader.done && reader.answers > 0 && !reader.notJson && !reader.errorEvent;
}

function isDoneData(p: usize, len: i32): bool {
  // "[DONE]"
  return len == 6 && load<u32>(p) == 0x4E4F445B && load<u16>(p, 4) == 0x5D45;
}

// ---- conversions ----

/** The outcome of a conversion: the new body, or NotConvertible with a detail for logs. */
export class Conversion {
  body: ArrayBuffer | null = null;
  reason: Reason = Reason.None;
  detail: string = "";

  fail(detail: string): Conversion {
    this.body = null;
    this.reason = Reason.NotConvertible;
    this.detail = detail;
    return this;
  }
}

// Which OpenAI stream: chat completions or (legacy) completions.
const MODE_NONE = 0;
const MODE_CHAT = 1;
const MODE_TEXT = 2;

class ToolAcc {
  id: ArrayBuffer | null = null;
  type: ArrayBuffer | null = null;
  name: ArrayBuffer | null = null;
  args: ByteSink = new ByteSink(64);
  constructor(public index: i32) {}
}

class ChoiceAcc {
  role: ArrayBuffer | null = null;
  /** Text deltas by field (`content`, `refusal`, `reasoning_content`, ...), concatenated. */
  textNames: string[] = [];
  textSinks: ByteSink[] = [];
  /** Other non-null delta fields, kept once each (canonical form). */
  otherNames: string[] = [];
  otherValues: ArrayBuffer[] = [];
  tools: ToolAcc[] = [];
  finish: ArrayBuffer | null = null;
  lpContent: ByteSink | null = null;
  lpRefusal: ByteSink | null = null;
  /** Completions: the concatenated `text`. */
  text: ByteSink = new ByteSink(256);
  constructor(public index: i32) {}

  textSink(name: string): ByteSink {
    const i = this.textNames.indexOf(name);
    if (i >= 0) return this.textSinks[i];
    const sink = new ByteSink(256);
    this.textNames.push(name);
    this.textSinks.push(sink);
    return sink;
  }

  tool(index: i32): ToolAcc {
    for (let i = 0; i < this.tools.length; i++) if (this.tools[i].index == index) return this.tools[i];
    const t = new ToolAcc(index);
    this.tools.push(t);
    return t;
  }
}

/** Collects the chunks of one stream. */
class Assembler {
  mode: i32 = MODE_NONE;
  id: ArrayBuffer | null = null;
  model: ArrayBuffer | null = null;
  created: ArrayBuffer | null = null;
  fingerprint: ArrayBuffer | null = null;
  serviceTier: ArrayBuffer | null = null;
  usage: ArrayBuffer | null = null;
  choices: ChoiceAcc[] = [];
  error: string = "";

  choice(index: i32): ChoiceAcc {
    for (let i = 0; i < this.choices.length; i++) if (this.choices[i].index == index) return this.choices[i];
    const c = new ChoiceAcc(index);
    this.choices.push(c);
    return c;
  }

  fail(message: string): bool {
    if (this.error.length == 0) this.error = message;
    return false;
  }

  /** Adds one chunk; false (with `error`) if it is not one this assembler understands. */
  add(chunk: JsonValue): bool {
    if (!chunk.isObject()) return this.fail("not a JSON object");
    const err = chunk.get("error");
    if (err !== null && !err.isNull()) return this.fail("an error event");
    const object = chunk.get("object");
    let mode = MODE_NONE;
    if (object !== null && object.stringEquals("chat.completion.chunk")) mode = MODE_CHAT;
    else if (object !== null && object.stringEquals("text_completion")) mode = MODE_TEXT;
    if (mode == MODE_NONE) return this.fail("\"object\" is neither \"chat.completion.chunk\" nor \"text_completion\"");
    if (this.mode != MODE_NONE && mode != this.mode) return this.fail("chunks of two kinds");
    this.mode = mode;
    if (this.id === null) this.id = canonicalOf(chunk.get("id"));
    if (this.model === null) this.model = canonicalOf(chunk.get("model"));
    if (this.created === null) this.created = canonicalOf(chunk.get("created"));
    if (this.fingerprint === null) this.fingerprint = canonicalOf(chunk.get("system_fingerprint"));
    if (this.serviceTier === null) this.serviceTier = canonicalOf(chunk.get("service_tier"));
    const usage = canonicalOf(chunk.get("usage"));
    if (usage !== null) this.usage = usage;
    const choices = chunk.get("choices");
    if (choices === null || choices.isNull()) return true;
    if (!choices.isArray()) return this.fail("\"choices\" is not an array");
    for (let i = 0; i < choices.length; i++) {
      if (!this.addChoice(choices.at(i) as JsonValue)) return false;
    }
    return true;
  }

  private addChoice(c: JsonValue): bool {
    if (!c.isObject()) return this.fail("a choice is not an object");
    const index = c.get("index");
    if (index === null || !index.isInteger() || index.asInteger() < 0 || index.asInteger() > MAX_CHOICE_INDEX) {
      return this.fail("a choice without an index 0.." + MAX_CHOICE_INDEX.toString());
    }
    const acc = this.choice(<i32>index.asInteger());
    const finish = canonicalOf(c.get("finish_reason"));
    if (finish !== null) acc.finish = finish;
    const lp = c.get("logprobs");
    if (lp !== null && !lp.isNull()) {
      if (this.mode == MODE_TEXT) return this.fail("completion logprobs");
      if (!this.addLogprobs(acc, lp)) return false;
    }
    if (this.mode == MODE_TEXT) {
      const text = c.get("text");
      if (text !== null && !text.isNull()) {
        if (!text.isString()) return this.fail("\"text\" is not a string");
        appendContent(acc.text, text);
      }
      return true;
    }
    const delta = c.get("delta");
    if (delta === null || delta.isNull()) return true;
    if (!delta.isObject()) return this.fail("\"delta\" is not an object");
    for (let i = 0; i < delta.length; i++) {
      const name = delta.keyAt(i);
      const v = delta.valueAt(i) as JsonValue;
      if (v.isNull()) continue;
      if (name == "role") {
        if (!v.isString()) return this.fail("\"role\" is not a string");
        if (acc.role === null) acc.role = canonicalJsonOf(v);
      } else if (name == "tool_calls") {
        if (!this.addToolCalls(acc, v)) return false;
      } else if (v.isString()) {
        appendContent(acc.textSink(name), v);
      } else {
        if (acc.otherNames.includes(name)) return this.fail("\"" + name + "\" in two chunks");
        acc.otherNames.push(name);
        acc.otherValues.push(canonicalJsonOf(v));
      }
    }
    return true;
  }

  private addLogprobs(acc: ChoiceAcc, lp: JsonValue): bool {
    if (!lp.isObject()) return this.fail("\"logprobs\" is not an object");
    for (let i = 0; i < lp.length; i++) {
      const v = lp.valueAt(i) as JsonValue;
      if (v.isNull()) continue;
      if (!v.isArray()) return this.fail("logprobs." + lp.keyAt(i) + " is not an array");
      let sink: ByteSink;
      if (lp.keyEquals(i, "content")) {
        if (acc.lpContent === null) acc.lpContent = new ByteSink(256);
        sink = acc.lpContent as ByteSink;
      } else if (lp.keyEquals(i, "refusal")) {
        if (acc.lpRefusal === null) acc.lpRefusal = new ByteSink(256);
        sink = acc.lpRefusal as ByteSink;
      } else {
        return this.fail("logprobs." + lp.keyAt(i));
      }
      for (let k = 0; k < v.length; k++) {
        if (sink.length > 0) sink.byte(0x2C);
        writeCanonical(sink, v.at(k) as JsonValue);
      }
    }
    return true;
  }

  private addToolCalls(acc: ChoiceAcc, calls: JsonValue): bool {
    if (!calls.isArray()) return this.fail("\"tool_calls\" is not an array");
    for (let i = 0; i < calls.length; i++) {
      const call = calls.at(i) as JsonValue;
      if (!call.isObject()) return this.fail("a tool call is not an object");
      const index = call.get("index");
      if (index === null || !index.isInteger() || index.asInteger() < 0 || index.asInteger() > MAX_TOOL_INDEX) {
        return this.fail("a tool call without an index 0.." + MAX_TOOL_INDEX.toString());
      }
      const tool = acc.tool(<i32>index.asInteger());
      for (let m = 0; m < call.length; m++) {
        const v = call.valueAt(m) as JsonValue;
        if (v.isNull() || call.keyEquals(m, "index")) continue;
        if (call.keyEquals(m, "id")) {
          if (!v.isString()) return this.fail("a tool call id is not a string");
          if (tool.id === null) tool.id = canonicalJsonOf(v);
        } else if (call.keyEquals(m, "type")) {
          if (!v.isString()) return this.fail("a tool call type is not a string");
          if (tool.type === null) tool.type = canonicalJsonOf(v);
        } else if (call.keyEquals(m, "function")) {
          if (!v.isObject()) return this.fail("a tool call function is not an object");
          const name = v.get("name");
          if (name !== null && !name.isNull()) {
            if (!name.isString()) return this.fail("a function name is not a string");
            if (tool.name === null && name.end - name.start > 2) tool.name = canonicalJsonOf(name);
          }
          const args = v.get("arguments");
          if (args !== null && !args.isNull()) {
            if (!args.isString()) return this.fail("function arguments are not a string");
            appendContent(tool.args, args);
          }
        } else {
          return this.fail("tool call field \"" + call.keyAt(m) + "\"");
        }
      }
    }
    return true;
  }

  /** The whole response. */
  write(out: ByteSink): void {
    const chat = this.mode == MODE_CHAT;
    out.ascii("{\"id\":");
    rawOr(out, this.id, "\"\"");
    out.ascii(chat ? ",\"object\":\"chat.completion\",\"created\":" : ",\"object\":\"text_completion\",\"created\":");
    rawOr(out, this.created, "0");
    out.ascii(",\"model\":");
    rawOr(out, this.model, "\"\"");
    if (this.fingerprint !== null) {
      out.ascii(",\"system_fingerprint\":");
      rawOr(out, this.fingerprint, "null");
    }
    if (this.serviceTier !== null) {
      out.ascii(",\"service_tier\":");
      rawOr(out, this.serviceTier, "null");
    }
    out.ascii(",\"choices\":[");
    const order = this.choices.slice(0);
    order.sort((a: ChoiceAcc, b: ChoiceAcc): i32 => a.index - b.index);
    for (let i = 0; i < order.length; i++) {
      if (i > 0) out.byte(0x2C);
      if (chat) writeChatChoice(out, order[i]);
      else writeTextChoice(out, order[i]);
    }
    out.byte(0x5D);
    if (this.usage !== null) {
      out.ascii(",\"usage\":");
      rawOr(out, this.usage, "null");
    }
    out.byte(0x7D);
  }
}

function writeChatChoice(out: ByteSink, c: ChoiceAcc): void {
  out.ascii("{\"index\":");
  out.integer(c.index);
  out.ascii(",\"message\":{\"role\":");
  rawOr(out, c.role, "\"assistant\"");
  out.ascii(",\"content\":");
  const ci = c.textNames.indexOf("content");
  if (ci >= 0) quoted(out, c.textSinks[ci]);
  else out.ascii("null");
  for (let i = 0; i < c.textNames.length; i++) {
    if (i == ci) continue;
    out.byte(0x2C);
    writeKey(out, c.textNames[i]);
    quoted(out, c.textSinks[i]);
  }
  for (let i = 0; i < c.otherNames.length; i++) {
    out.byte(0x2C);
    writeKey(out, c.otherNames[i]);
    rawOr(out, c.otherValues[i], "null");
  }
  if (c.tools.length > 0) {
    out.ascii(",\"tool_calls\":[");
    const tools = c.tools.slice(0);
    tools.sort((a: ToolAcc, b: ToolAcc): i32 => a.index - b.index);
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      if (i > 0) out.byte(0x2C);
      out.ascii("{\"id\":");
      rawOr(out, t.id, "\"\"");
      out.ascii(",\"type\":");
      rawOr(out, t.type, "\"function\"");
      out.ascii(",\"function\":{\"name\":");
      rawOr(out, t.name, "\"\"");
      out.ascii(",\"arguments\":");
      quoted(out, t.args);
      out.ascii("}}");
    }
    out.byte(0x5D);
  }
  out.ascii("},\"logprobs\":");
  const lpc = c.lpContent;
  const lpr = c.lpRefusal;
  if (lpc === null && lpr === null) {
    out.ascii("null");
  } else {
    out.byte(0x7B);
    if (lpc !== null) {
      out.ascii("\"content\":[");
      out.bytes(lpc.at(0), lpc.length);
      out.byte(0x5D);
    }
    if (lpr !== null) {
      if (lpc !== null) out.byte(0x2C);
      out.ascii("\"refusal\":[");
      out.bytes(lpr.at(0), lpr.length);
      out.byte(0x5D);
    }
    out.byte(0x7D);
  }
  out.ascii(",\"finish_reason\":");
  rawOr(out, c.finish, "null");
  out.byte(0x7D);
}

function writeTextChoice(out: ByteSink, c: ChoiceAcc): void {
  out.ascii("{\"text\":");
  quoted(out, c.text);
  out.ascii(",\"index\":");
  out.integer(c.index);
  out.ascii(",\"logprobs\":null,\"finish_reason\":");
  rawOr(out, c.finish, "null");
  out.byte(0x7D);
}

/**
 * The whole response (`chat.completion` or `text_completion` JSON) of an OpenAI stream: `id`,
 * `model`, `created`, `system_fingerprint` and `service_tier` from the first chunk that has them;
 * per choice (by `index`) the first `role`, every string delta field concatenated (`content`,
 * `refusal`, `reasoning_content`, ...), other delta fields kept once, tool calls by index (first
 * id, type and name; arguments concatenated), logprobs' `content`/`refusal` items in order, the
 * last `finish_reason`; the last non-null `usage`. The stream must end with `data: [DONE]`.
 */
export function sseToJson(body: ArrayBuffer, offset: i32, length: i32, maxOutBytes: i32, out: Conversion = new Conversion()): Conversion {
  out.reason = Reason.None;
  out.body = null;
  out.detail = "";
  const reader = new SseReader(<i64>length, true);
  reader.feedRange(body, offset, length);
  if (reader.failed) return out.fail("stream larger than its bounds");
  const events = reader.take();
  const asm = new Assembler();
  let done = false;
  const limits = new JsonLimits();
  limits.maxDepth = EVENT_JSON_DEPTH;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.isDone) {
      done = true;
      break;
    }
    const parsed = parseJson(e.data, limits);
    if (!parsed.ok || parsed.value === null) return out.fail("event " + i.toString() + ": " + parsed.error);
    if (!asm.add(parsed.value as JsonValue)) return out.fail("event " + i.toString() + ": " + asm.error);
  }
  if (!done) return out.fail("no data: [DONE]");
  if (asm.mode == MODE_NONE) return out.fail("no chunks");
  const sink = new ByteSink(length);
  asm.write(sink);
  if (sink.length > maxOutBytes) return out.fail("response larger than " + maxOutBytes.toString() + " bytes");
  out.body = sink.toArrayBuffer();
  return out;
}

/**
 * An OpenAI whole response as a stream: per choice a chunk with the whole message as its delta
 * (tool calls numbered by `index`) and the choice's logprobs, then a chunk with its
 * finish_reason; a chunk with `usage` and no choices when the response has one; `data: [DONE]`.
 * Every value in RFC 8785 form (no line breaks inside a data line).
 */
export function jsonToSse(body: ArrayBuffer, offset: i32, length: i32, maxOutBytes: i32, out: Conversion = new Conversion()): Conversion {
  out.reason = Reason.None;
  out.body = null;
  out.detail = "";
  if (offset < 0 || length < 0 || <i64>offset + <i64>length > <i64>body.byteLength) return out.fail("body out of range");
  const limits = new JsonLimits();
  limits.maxDepth = EVENT_JSON_DEPTH;
  const parsed = parseJson(offset == 0 && length == body.byteLength ? body : body.slice(offset, offset + length), limits);
  if (!parsed.ok || parsed.value === null) return out.fail(parsed.error);
  const root = parsed.value as JsonValue;
  if (!root.isObject()) return out.fail("not a JSON object");
  const object = root.get("object");
  let chat = false;
  if (object !== null && object.stringEquals("chat.completion")) chat = true;
  else if (object === null || !object.stringEquals("text_completion")) return out.fail("\"object\" is neither \"chat.completion\" nor \"text_completion\"");
  const choices = root.get("choices");
  if (choices === null || !choices.isArray()) return out.fail("no \"choices\" array");

  // The members every chunk repeats.
  const head = new ByteSink(256);
  head.ascii("{\"id\":");
  writeValueOr(head, root.get("id"), "\"\"");
  head.ascii(chat ? ",\"object\":\"chat.completion.chunk\",\"created\":" : ",\"object\":\"text_completion\",\"created\":");
  writeValueOr(head, root.get("created"), "0");
  head.ascii(",\"model\":");
  writeValueOr(head, root.get("model"), "\"\"");
  const fingerprint = root.get("system_fingerprint");
  if (fingerprint !== null && !fingerprint.isNull()) {
    head.ascii(",\"system_fingerprint\":");
    writeCanonical(head, fingerprint);
  }
  const tier = root.get("service_tier");
  if (tier !== null && !tier.isNull()) {
    head.ascii(",\"service_tier\":");
    writeCanonical(head, tier);
  }
  head.ascii(",\"choices\":[");

  const sink = new ByteSink(length + 512);
  for (let i = 0; i < choices.length; i++) {
    const c = choices.at(i) as JsonValue;
    if (!c.isObject()) return out.fail("a choice is not an object");
    const idx = c.get("index");
    let index: i64 = i;
    if (idx !== null) {
      if (!idx.isInteger() || idx.asInteger() < 0 || idx.asInteger() > MAX_CHOICE_INDEX) return out.fail("a choice index out of range");
      index = idx.asInteger();
    }
    const lp = c.get("logprobs");
    if (chat) {
      const message = c.get("message");
      if (message === null || !message.isObject()) return out.fail("a choice without a \"message\" object");
      beginEvent(sink, head);
      sink.ascii("{\"index\":");
      sink.integer(index);
      sink.ascii(",\"delta\":");
      if (!writeDelta(sink, message)) return out.fail("\"tool_calls\" is not an array of objects");
      sink.ascii(",\"logprobs\":");
      writeValueOr(sink, lp, "null");
      sink.ascii(",\"finish_reason\":null}");
      endEvent(sink);
      beginEvent(sink, head);
      sink.ascii("{\"index\":");
      sink.integer(index);
      sink.ascii(",\"delta\":{},\"logprobs\":null,\"finish_reason\":");
      writeValueOr(sink, c.get("finish_reason"), "null");
      sink.byte(0x7D);
      endEvent(sink);
    } else {
      const text = c.get("text");
      if (text === null || !text.isString()) return out.fail("a choice without a \"text\" string");
      beginEvent(sink, head);
      sink.ascii("{\"text\":");
      writeCanonical(sink, text);
      sink.ascii(",\"index\":");
      sink.integer(index);
      sink.ascii(",\"logprobs\":");
      writeValueOr(sink, lp, "null");
      sink.ascii(",\"finish_reason\":null}");
      endEvent(sink);
      beginEvent(sink, head);
      sink.ascii("{\"text\":\"\",\"index\":");
      sink.integer(index);
      sink.ascii(",\"logprobs\":null,\"finish_reason\":");
      writeValueOr(sink, c.get("finish_reason"), "null");
      sink.byte(0x7D);
      endEvent(sink);
    }
    if (sink.length > maxOutBytes) return out.fail("stream larger than " + maxOutBytes.toString() + " bytes");
  }
  const usage = root.get("usage");
  if (usage !== null && !usage.isNull()) {
    beginEvent(sink, head);
    sink.ascii("],\"usage\":");
    writeCanonical(sink, usage);
    sink.byte(0x7D);
    sink.byte2(0x0A, 0x0A);
  }
  sink.ascii("data: [DONE]\n\n");
  if (sink.length > maxOutBytes) return out.fail("stream larger than " + maxOutBytes.toString() + " bytes");
  out.body = sink.toArrayBuffer();
  return out;
}

/** The message as a delta: its members in RFC 8785 form, tool calls with their `index`. */
function writeDelta(sink: ByteSink, message: JsonValue): bool {
  sink.byte(0x7B);
  const view = new JsonValue(message.tree, message.node);
  for (let i = 0; i < message.length; i++) {
    if (i > 0) sink.byte(0x2C);
    const keyNode = keyNodeAt(message, i);
    writeCanonical(sink, view.bind(message.tree, keyNode));
    sink.byte(0x3A);
    const v = message.valueAt(i) as JsonValue;
    if (!message.keyEquals(i, "tool_calls") || v.isNull()) {
      writeCanonical(sink, v);
      continue;
    }
    if (!v.isArray()) return false;
    sink.byte(0x5B);
    for (let k = 0; k < v.length; k++) {
      const call = v.at(k) as JsonValue;
      if (!call.isObject()) return false;
      if (k > 0) sink.byte(0x2C);
      sink.ascii("{\"index\":");
      sink.integer(k);
      for (let m = 0; m < call.length; m++) {
        if (call.keyEquals(m, "index")) continue;
        sink.byte(0x2C);
        writeCanonical(sink, view.bind(call.tree, keyNodeAt(call, m)));
        sink.byte(0x3A);
        writeCanonical(sink, call.valueAt(m) as JsonValue);
      }
      sink.byte(0x7D);
    }
    sink.byte(0x5D);
  }
  sink.byte(0x7D);
  return true;
}

// ---- replay ----

/** What to send for a hit: a body range and its content type, or NotConvertible. */
export class Replay {
  source: ArrayBuffer = new ArrayBuffer(0);
  offset: i32 = 0;
  length: i32 = 0;
  contentType: string = "";
  /** The stored body was converted (stream to whole response or back). */
  converted: bool = false;
  reason: Reason = Reason.None;
  detail: string = "";
}

/**
 * The body a hit on `entry` sends to a request that does (`stream`) or does not want a stream: the
 * stored bytes and content type when the kinds agree, else the conversion (at most `maxOutBytes`).
 */
export function replayFor(entry: CacheEntry, stream: bool, maxOutBytes: i32, out: Replay = new Replay()): Replay {
  out.reason = Reason.None;
  out.detail = "";
  out.converted = false;
  const wantSse = stream;
  const isSse = entry.kind == BodyKind.Sse;
  if (wantSse == isSse) {
    out.source = entry.source;
    out.offset = entry.bodyOffset;
    out.length = entry.bodyLength;
    out.contentType = entry.contentType;
    return out;
  }
  const conv = isSse
    ? sseToJson(entry.source, entry.bodyOffset, entry.bodyLength, maxOutBytes)
    : jsonToSse(entry.source, entry.bodyOffset, entry.bodyLength, maxOutBytes);
  if (conv.body === null) {
    out.reason = conv.reason;
    out.detail = conv.detail;
    out.source = new ArrayBuffer(0);
    out.offset = 0;
    out.length = 0;
    out.contentType = "";
    return out;
  }
  const converted = conv.body as ArrayBuffer;
  out.source = converted;
  out.offset = 0;
  out.length = converted.byteLength;
  out.contentType = isSse ? JSON_CONTENT_TYPE : SSE_CONTENT_TYPE;
  out.converted = true;
  return out;
}

// ---- helpers ----

function beginEvent(sink: ByteSink, head: ByteSink): void {
  sink.ascii("data: ");
  sink.bytes(head.at(0), head.length);
}

function endEvent(sink: ByteSink): void {
  sink.ascii("]}\n\n");
}

/** RFC 8785 form of a non-null value; null for null or absent. */
function canonicalOf(v: JsonValue | null): ArrayBuffer | null {
  if (v === null || v.isNull()) return null;
  return canonicalJsonOf(v);
}

function canonicalJsonOf(v: JsonValue): ArrayBuffer {
  const sink = new ByteSink(v.end - v.start + 8);
  writeCanonical(sink, v);
  return sink.toArrayBuffer();
}

function writeValueOr(sink: ByteSink, v: JsonValue | null, fallback: string): void {
  if (v === null) sink.ascii(fallback);
  else writeCanonical(sink, v);
}

function rawOr(sink: ByteSink, raw: ArrayBuffer | null, fallback: string): void {
  if (raw === null) sink.ascii(fallback);
  else sink.bytes(changetype<usize>(raw), raw.byteLength);
}

/** Appends a string value's content as it is in the source (escapes kept, quotes left out). */
function appendContent(sink: ByteSink, s: JsonValue): void {
  sink.bytes(changetype<usize>(s.tree.source) + <usize>s.start + 1, s.end - s.start - 2);
}

function quoted(out: ByteSink, content: ByteSink): void {
  out.byte(0x22);
  out.bytes(content.at(0), content.length);
  out.byte(0x22);
}

function writeKey(out: ByteSink, name: string): void {
  out.byte(0x22);
  writeEscapedString(out, name);
  out.byte2(0x22, 0x3A);
}

/** Node of object member `i`'s key. */
function keyNodeAt(obj: JsonValue, i: i32): i32 {
  const tree = obj.tree;
  let n = obj.node + 1;
  for (let k = 0; k < i; k++) n = tree.skip(n + 1);
  return n;
}
