// Configuration checking shared by every filter: parse, validate, derive, never throw. A Checker
// keeps the first problem as one message `<field>: expected <what>, got <value>`, which the
// filter logs at critical level before refusing to start. Later checks are skipped once one
// problem is recorded, so the message always names the first bad field.

import { E_RANGE, JsonValue, parseJson } from "../json/index";
import { shortened } from "../runtime/text";
import { decodeUtf8Lossy } from "../json/utf8";

/** Longest piece of a bad value quoted back in a message. */
const GOT_MAX_CHARS = 60;

export class Checker {
  error: string = "";

  get failed(): bool {
    return this.error.length > 0;
  }

  fail(field: string, expected: string, got: string): void {
    if (this.error.length == 0) this.error = field + ": expected " + expected + ", got " + got;
  }

  /** Fails with the value's source text as what was got. */
  failValue(field: string, expected: string, value: JsonValue): void {
    this.fail(field, expected, describe(value));
  }

  /** Checks an object's keys: none twice, and each in `allowed` (null: names chosen by the user). */
  keys(obj: JsonValue, field: string, allowed: string[] | null): void {
    const n = obj.length;
    for (let i = 0; i < n && !this.failed; i++) {
      const key = obj.keyAt(i);
      const path = joinField(field, key);
      if (allowed !== null && !allowed.includes(key)) {
        this.error = path + ": expected one of the keys " + (allowed as string[]).join(", ") + ", got an unknown key";
        return;
      }
      for (let j = 0; j < i; j++) {
        if (obj.keyEquals(j, key)) {
          this.error = path + ": expected each key once, got it twice";
          return;
        }
      }
    }
  }

  string(obj: JsonValue, key: string, field: string, def: string, check: (s: string) => bool, expected: string): string {
    const v = obj.get(key);
    if (v === null || this.failed) return def;
    const path = joinField(field, key);
    if (!v.isString()) {
      this.failValue(path, expected, v);
      return def;
    }
    const s = v.asString();
    if (!check(s)) {
      this.failValue(path, expected, v);
      return def;
    }
    return s;
  }

  bool(obj: JsonValue, key: string, field: string, def: bool): bool {
    const v = obj.get(key);
    if (v === null || this.failed) return def;
    if (!v.isBool()) {
      this.failValue(joinField(field, key), "true or false", v);
      return def;
    }
    return v.asBool();
  }

  integer(obj: JsonValue, key: string, field: string, def: i64, lo: i64, hi: i64): i64 {
    const v = obj.get(key);
    if (v === null || this.failed) return def;
    if (!v.isInteger() || v.asInteger() < lo || v.asInteger() > hi) {
      this.failValue(joinField(field, key), "an integer " + lo.toString() + ".." + hi.toString(), v);
      return def;
    }
    return v.asInteger();
  }

  /**
   * Member `key` of `obj` checked as `shape` says, every name and the kind and keys of every
   * value, before any member's settings are read: the object when all passed (its `valueAt(i)`
   * are objects), null when absent (a failure when `shape.min` > 0) or when a check failed.
   */
  objectsByName(obj: JsonValue, key: string, field: string, shape: ObjectsByName): JsonValue | null {
    if (this.failed) return null;
    const path = joinField(field, key);
    const v = obj.get(key);
    if (v === null) {
      if (shape.min > 0) this.fail(path, shape.expected, "nothing");
      return null;
    }
    if (!v.isObject() || v.length < shape.min || v.length > shape.max) {
      this.failValue(path, shape.expected, v);
      return null;
    }
    this.keys(v, path, null);
    const nameOk = shape.nameOk;
    for (let i = 0, n = v.length; i < n && !this.failed; i++) {
      const name = v.keyAt(i);
      const member = path + "." + name;
      if (!nameOk(name)) {
        this.fail(member, shape.nameExpected, quote(name));
        return null;
      }
      const value = v.valueAt(i) as JsonValue;
      if (!value.isObject()) {
        this.failValue(member, shape.valueExpected, value);
        return null;
      }
      this.keys(value, member, shape.allowed);
    }
    return this.failed ? null : v;
  }

  /** An object member that must be an object when present; null when absent. */
  object(obj: JsonValue, key: string, field: string, expected: string): JsonValue | null {
    const v = obj.get(key);
    if (v === null || this.failed) return null;
    if (!v.isObject()) {
      this.failValue(joinField(field, key), expected, v);
      return null;
    }
    return v;
  }
}

/**
 * The shape of a member whose names the user chooses, each naming an object of settings
 * (`models`, a model's `versions`): `min`..`max` members, each name once and passing `nameOk`
 * (`nameExpected` says what a name must be), each value an object (`valueExpected`) with keys in
 * `allowed`. Every filter's `models` has it, so the checks and their messages are one.
 */
export class ObjectsByName {
  constructor(
    public what: string,
    public min: i32,
    public max: i32,
    public nameOk: (s: string) => bool,
    public nameExpected: string,
    public valueExpected: string,
    public allowed: string[],
  ) {}

  /** "an object of 1..16 versions by name", "an object of up to 256 models by name". */
  get expected(): string {
    const range = this.min > 0 ? this.min.toString() + ".." + this.max.toString() : "up to " + this.max.toString();
    return "an object of " + range + " " + this.what + " by name";
  }
}

/** A configuration document's root object, or the message that says why there is none. */
export class ConfigDocument {
  constructor(public root: JsonValue | null, public error: string) {}
}

/**
 * Parses a filter's configuration bytes. `expectedWhat` completes "expected ..." when the bytes
 * are blank (e.g. `a JSON object with "models"`); `allowBlank` makes blank mean `{}`.
 */
export function parseConfigDocument(bytes: ArrayBuffer, expectedWhat: string, allowBlank: bool = false): ConfigDocument {
  if (isBlank(bytes)) {
    if (allowBlank) return parseConfigDocument(String.UTF8.encode("{}"), expectedWhat);
    return new ConfigDocument(null, "configuration: expected " + expectedWhat + ", got nothing");
  }
  const parsed = parseJson(bytes);
  if (!parsed.ok || parsed.value === null) {
    const field = fieldAt(bytes, parsed.offset);
    // A number beyond a double is valid JSON the reader refuses: said like any bad value.
    if (parsed.error == E_RANGE && field.length > 0) {
      return new ConfigDocument(null, field + ": expected a number within a double's range, got " + numberAt(bytes, parsed.offset));
    }
    if (looksBinary(bytes)) {
      // What Envoy hands over for a configuration of any other type than StringValue or
      // BytesValue: its protobuf encoding. A Struct is the likely one (proxy-wasm examples use it).
      return new ConfigDocument(null, "configuration: expected JSON, got binary data (not JSON at byte " + parsed.offset.toString() +
        "): a google.protobuf.Struct or another message reaches the filter in protobuf's binary encoding; " +
        "give the configuration as a google.protobuf.StringValue whose value is the JSON");
    }
    return new ConfigDocument(null, "configuration: expected JSON, got text that is not JSON at byte " + parsed.offset.toString() +
      " (" + parsed.error + ")" + (field.length > 0 ? ", in " + field : ""));
  }
  const root = parsed.value as JsonValue;
  if (!root.isObject()) return new ConfigDocument(null, "configuration: expected a JSON object, got " + describe(root));
  return new ConfigDocument(root, "");
}

/**
 * Whether the bytes look like a protobuf message whose field 1 is length-delimited, as a Struct's
 * is: tag byte 0x0A (which JSON reads as a newline) and, within the first 8 bytes, a control byte
 * other than tab, LF and CR (a length), which JSON text does not start with.
 */
function looksBinary(bytes: ArrayBuffer): bool {
  const p = changetype<usize>(bytes);
  const n = min(bytes.byteLength, 8);
  if (n == 0 || load<u8>(p) != 0x0A) return false;
  for (let i = 1; i < n; i++) {
    const c = load<u8>(p + <usize>i);
    if ((c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D) || c == 0x7F) return true;
  }
  return false;
}

/**
 * The field at byte `offset` of a document the reader refused there, named as the Checker names
 * fields (`models.llama.tenant`, `sources[2]`); "" at the top level. The bytes before `offset`
 * are JSON the reader accepted up to there, so a plain scan of its brackets, keys and commas
 * follows them.
 */
export function fieldAt(bytes: ArrayBuffer, offset: i32): string {
  const p = changetype<usize>(bytes);
  const end = min(offset, bytes.byteLength);
  // Per open container: its key so far (objects, "" before a key's colon) or item index (arrays).
  const keys: string[] = [];
  const items: i32[] = [];
  let pendingKey = "";
  let i = 0;
  while (i < end) {
    const c = <u32>load<u8>(p + <usize>i);
    if (c == 0x7B || c == 0x5B) { // { [
      keys.push("");
      items.push(c == 0x5B ? 0 : -1);
      i++;
    } else if (c == 0x7D || c == 0x5D) { // } ]
      if (keys.length > 0) {
        keys.pop();
        items.pop();
      }
      i++;
    } else if (c == 0x2C) { // ,
      const n = items.length;
      if (n > 0) {
        if (unchecked(items[n - 1]) >= 0) unchecked((items[n - 1] = items[n - 1] + 1));
        else unchecked((keys[n - 1] = ""));
      }
      i++;
    } else if (c == 0x3A) { // :
      if (keys.length > 0) unchecked((keys[keys.length - 1] = pendingKey));
      i++;
    } else if (c == 0x22) { // a string: a key when a colon follows
      let j = i + 1;
      while (j < end && load<u8>(p + <usize>j) != 0x22) j += load<u8>(p + <usize>j) == 0x5C ? 2 : 1;
      if (j >= end) break;
      pendingKey = decodeUtf8Lossy(p + <usize>(i + 1), j - i - 1);
      i = j + 1;
    } else {
      i++;
    }
  }
  let path = "";
  for (let k = 0; k < keys.length; k++) {
    const item = unchecked(items[k]);
    if (item >= 0) path += "[" + item.toString() + "]";
    else if (unchecked(keys[k]).length > 0) path = joinField(path, unchecked(keys[k]));
    else break; // in an object before its next key's colon
  }
  return path;
}

/** The number token at `offset` (at most GOT_MAX_CHARS bytes), for a message. */
function numberAt(bytes: ArrayBuffer, offset: i32): string {
  const p = changetype<usize>(bytes);
  let j = offset;
  while (j < bytes.byteLength && j - offset < GOT_MAX_CHARS) {
    const c = <u32>load<u8>(p + <usize>j);
    if (!(c - 0x30 < 10 || c == 0x2D || c == 0x2B || c == 0x2E || c == 0x65 || c == 0x45)) break;
    j++;
  }
  return decodeUtf8Lossy(p + <usize>offset, j - offset);
}

/** `field.key`, or `key` at the top level. */
export function joinField(field: string, key: string): string {
  return field.length == 0 ? key : field + "." + key;
}

export function quote(s: string): string {
  return "\"" + s + "\"";
}

/** A value's source text for an error message, shortened. */
export function describe(v: JsonValue): string {
  const raw = v.raw();
  return shortened(raw, GOT_MAX_CHARS);
}

export function isBlank(bytes: ArrayBuffer): bool {
  const data = Uint8Array.wrap(bytes);
  for (let i = 0; i < data.length; i++) {
    const ch = data[i];
    if (ch != 0x20 && ch != 0x09 && ch != 0x0a && ch != 0x0d) return false;
  }
  return true;
}
