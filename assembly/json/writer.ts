// Building JSON: a streaming writer that places commas and colons itself and escapes every
// string (see escape.ts), so responses and rewritten bodies are valid by construction.

import { writeCanonical } from "./canonical";
import { writeNumber } from "./dtoa";
import { writeEscapedString } from "./escape";
import { JsonValue } from "./reader";
import { ByteSink } from "./sink";

// Container stack entries.
const IN_ARRAY: u8 = 1;
const IN_OBJECT: u8 = 2;

/**
 * Streaming JSON writer. Calls chain: `w.beginObject().key("a").integer(1).endObject()`. Misuse
 * (a value in an object without a key, a key outside an object, an unbalanced end, a second
 * top-level value) is not thrown: it clears `ok`, and the output is then not to be used.
 */
export class JsonWriter {
  private sink: ByteSink;
  private stack: ByteSink = new ByteSink(16); // IN_ARRAY / IN_OBJECT per open container
  private first: bool = true; // no item yet in the innermost container (or at top level)
  private afterKey: bool = false;
  private done: bool = false; // a complete top-level value has been written
  /** False once the writer has been misused. */
  ok: bool = true;

  constructor(capacity: i32 = 256) {
    this.sink = new ByteSink(capacity);
  }

  /** Open containers. */
  get depth(): i32 {
    return this.stack.length;
  }

  /** Bytes written so far. */
  get byteLength(): i32 {
    return this.sink.length;
  }

  /** True when one complete value has been written and every container closed. */
  isComplete(): bool {
    return this.ok && this.done && this.stack.length == 0;
  }

  private top(): u8 {
    const n = this.stack.length;
    return n == 0 ? 0 : load<u8>(this.stack.at(n - 1));
  }

  // Separator before a value (an array item, a member value, or the top-level value).
  private beforeValue(): void {
    const top = this.top();
    if (top == IN_OBJECT) {
      if (!this.afterKey) this.ok = false;
      this.afterKey = false;
    } else if (top == IN_ARRAY) {
      if (!this.first) this.sink.byte(0x2C);
    } else if (this.done) {
      this.ok = false;
    }
    this.first = false;
  }

  // Bookkeeping after a complete value.
  private afterValue(): void {
    if (this.stack.length == 0) this.done = true;
  }

  beginObject(): JsonWriter {
    this.beforeValue();
    this.sink.byte(0x7B);
    this.stack.byte(IN_OBJECT);
    this.first = true;
    return this;
  }

  endObject(): JsonWriter {
    return this.end(IN_OBJECT, 0x7D);
  }

  beginArray(): JsonWriter {
    this.beforeValue();
    this.sink.byte(0x5B);
    this.stack.byte(IN_ARRAY);
    this.first = true;
    return this;
  }

  endArray(): JsonWriter {
    return this.end(IN_ARRAY, 0x5D);
  }

  private end(kind: u8, close: u32): JsonWriter {
    if (this.top() != kind || this.afterKey) {
      this.ok = false;
      return this;
    }
    this.sink.byte(close);
    this.stack.length -= 1;
    this.first = false;
    this.afterValue();
    return this;
  }

  /** An object member's name; the member's value comes next. */
  key(name: string): JsonWriter {
    if (this.top() != IN_OBJECT || this.afterKey) {
      this.ok = false;
      return this;
    }
    if (!this.first) this.sink.byte(0x2C);
    this.first = false;
    this.sink.byte(0x22);
    writeEscapedString(this.sink, name);
    this.sink.byte2(0x22, 0x3A);
    this.afterKey = true;
    return this;
  }

  string(value: string): JsonWriter {
    this.beforeValue();
    this.sink.byte(0x22);
    writeEscapedString(this.sink, value);
    this.sink.byte(0x22);
    this.afterValue();
    return this;
  }

  /** A number as JSON.stringify writes it; NaN and ±Infinity are written as `null`. */
  number(value: f64): JsonWriter {
    this.beforeValue();
    writeNumber(this.sink, value);
    this.afterValue();
    return this;
  }

  /** An exact integer (all 64 bits, unlike `number`). */
  integer(value: i64): JsonWriter {
    this.beforeValue();
    this.sink.integer(value);
    this.afterValue();
    return this;
  }

  bool(value: bool): JsonWriter {
    this.beforeValue();
    this.sink.ascii(value ? "true" : "false");
    this.afterValue();
    return this;
  }

  null(): JsonWriter {
    this.beforeValue();
    this.sink.ascii("null");
    this.afterValue();
    return this;
  }

  /** A parsed value copied verbatim from its source bytes (whitespace inside it included). */
  value(v: JsonValue): JsonWriter {
    this.beforeValue();
    this.sink.bytes(changetype<usize>(v.tree.source) + <usize>v.start, v.end - v.start);
    this.afterValue();
    return this;
  }

  /** A parsed value in its RFC 8785 canonical form. */
  canonical(v: JsonValue): JsonWriter {
    this.beforeValue();
    writeCanonical(this.sink, v);
    this.afterValue();
    return this;
  }

  /** Text the caller guarantees is one valid JSON value (e.g. a pre-serialised fragment). */
  rawJson(text: string): JsonWriter {
    this.beforeValue();
    const bytes = String.UTF8.encode(text);
    this.sink.bytes(changetype<usize>(bytes), bytes.byteLength);
    this.afterValue();
    return this;
  }

  stringField(name: string, value: string): JsonWriter {
    return this.key(name).string(value);
  }

  numberField(name: string, value: f64): JsonWriter {
    return this.key(name).number(value);
  }

  integerField(name: string, value: i64): JsonWriter {
    return this.key(name).integer(value);
  }

  boolField(name: string, value: bool): JsonWriter {
    return this.key(name).bool(value);
  }

  nullField(name: string): JsonWriter {
    return this.key(name).null();
  }

  /** The output as UTF-8 bytes. */
  toArrayBuffer(): ArrayBuffer {
    return this.sink.toArrayBuffer();
  }

  toString(): string {
    return this.sink.toString();
  }
}
