// Test entry for assembly/json (see io.ts for how bytes cross the boundary). Limits arrive as
// three integers; a negative one keeps the default.
import {
  canonicalJson, escapeJsonString, JsonKind, JsonLimits, JsonValue, JsonWriter, parseJson, quoteJsonString,
} from "../../assembly/json/index";
import { sha256 } from "../../assembly/crypto/sha256";
import { input, output, outputString } from "./io";

export { alloc, byteLength, release } from "./io";

function limits(maxDepth: i32, maxBytes: i32, maxValues: i32): JsonLimits {
  const l = new JsonLimits();
  if (maxDepth >= 0) l.maxDepth = maxDepth;
  if (maxBytes >= 0) l.maxBytes = maxBytes;
  if (maxValues >= 0) l.maxValues = maxValues;
  return l;
}

/** `{"ok":true}` or `{"ok":false,"error":...,"offset":...}`. */
export function check(data: usize, maxDepth: i32, maxBytes: i32, maxValues: i32): usize {
  const r = parseJson(input(data), limits(maxDepth, maxBytes, maxValues));
  const w = new JsonWriter().beginObject().boolField("ok", r.ok);
  if (!r.ok) w.stringField("error", r.error).integerField("offset", r.offset);
  return output(w.endObject().toArrayBuffer());
}

/**
 * `[true, tree]` with the tree rebuilt through the public accessors only (every member in order,
 * strings decoded, numbers through asNumber), or `[false, error, offset]`.
 */
export function dump(data: usize, maxDepth: i32, maxBytes: i32, maxValues: i32): usize {
  const r = parseJson(input(data), limits(maxDepth, maxBytes, maxValues));
  const w = new JsonWriter().beginArray().bool(r.ok);
  if (r.ok) dumpValue(w, r.value!);
  else w.string(r.error).integer(r.offset);
  return output(w.endArray().toArrayBuffer());
}

function dumpValue(w: JsonWriter, v: JsonValue): void {
  switch (v.kind) {
    case JsonKind.Null: w.null(); break;
    case JsonKind.Bool: w.bool(v.asBool()); break;
    case JsonKind.Number: w.number(v.asNumber()); break;
    case JsonKind.String: w.string(v.asString()); break;
    case JsonKind.Array: {
      w.beginArray();
      for (let i = 0; i < v.length; i++) dumpValue(w, v.at(i)!);
      w.endArray();
      break;
    }
    default: {
      w.beginObject();
      for (let i = 0; i < v.length; i++) {
        w.key(v.keyAt(i));
        dumpValue(w, v.valueAt(i)!);
      }
      w.endObject();
    }
  }
}

/** Flat `[kind, start, end, ...]` of every value in document order (keys excluded). */
export function spans(data: usize): usize {
  const r = parseJson(input(data));
  const w = new JsonWriter().beginArray();
  if (r.ok) spanValue(w, r.value!);
  return output(w.endArray().toArrayBuffer());
}

function spanValue(w: JsonWriter, v: JsonValue): void {
  w.integer(v.kind).integer(v.start).integer(v.end);
  if (v.isArray()) for (let i = 0; i < v.length; i++) spanValue(w, v.at(i)!);
  if (v.isObject()) for (let i = 0; i < v.length; i++) spanValue(w, v.valueAt(i)!);
}

/**
 * Cross-checks the accessors against one another on every value of a valid document; returns ""
 * or the first inconsistency found.
 */
export function consistency(data: usize): usize {
  const r = parseJson(input(data), limits(100000, -1, -1));
  if (!r.ok) return outputString("parse failed: " + r.error);
  return outputString(checkValue(r.value!, 0, input(data).byteLength));
}

function checkValue(v: JsonValue, lo: i32, hi: i32): string {
  if (v.start < lo || v.end > hi || v.start >= v.end) return "span out of parent at " + v.start.toString();
  const n = v.length;
  if (v.isArray()) {
    let prevEnd = v.start;
    for (let i = 0; i < n; i++) {
      const item = v.at(i)!;
      if (item.start <= prevEnd) return "items out of order at " + item.start.toString();
      prevEnd = item.end;
      const e = checkValue(item, v.start + 1, v.end - 1);
      if (e.length) return e;
    }
    // Random access (backwards) agrees with sequential access.
    for (let i = n - 1; i >= 0; i--) {
      const a = v.at(i)!;
      if (a.start != v.at(i)!.start) return "at() unstable";
    }
    if (v.at(n) !== null || v.at(-1) !== null) return "at() out of range not null";
  } else if (v.isObject()) {
    for (let i = 0; i < n; i++) {
      const key = v.keyAt(i);
      if (!v.keyEquals(i, key)) return "keyEquals disagrees with keyAt for " + key;
      if (!v.has(key)) return "has() misses " + key;
      // get() returns the last member with this key.
      let last = -1;
      for (let j = 0; j < n; j++) if (v.keyAt(j) == key) last = j;
      const got = v.get(key);
      if (got === null || got.start != v.valueAt(last)!.start) return "get() is not last-wins for " + key;
      const e = checkValue(v.valueAt(i)!, v.start + 1, v.end - 1);
      if (e.length) return e;
    }
    if (v.has("\u0000no such key\u0000") || v.get("\u0000no such key\u0000") !== null) return "phantom key";
    if (v.valueAt(n) !== null || v.keyAt(n) != "") return "member out of range not empty";
  } else if (v.isString()) {
    const s = v.asString();
    if (!v.stringEquals(s)) return "stringEquals(asString()) false at " + v.start.toString();
    if (v.stringEquals(s + "x")) return "stringEquals prefix true at " + v.start.toString();
    if (n != 0) return "length of a string";
  }
  if (!v.isNumber() && !isNaN(v.asNumber())) return "asNumber of a non-number";
  return "";
}

/** Navigates `path` (a JSON array of keys and indices) and describes what it finds. */
export function describe(data: usize, path: usize): usize {
  const r = parseJson(input(data));
  const p = parseJson(input(path));
  const w = new JsonWriter().beginObject();
  if (!r.ok || !p.ok) return output(w.boolField("found", false).endObject().toArrayBuffer());
  let v: JsonValue | null = r.value;
  const steps = p.value!;
  for (let i = 0; i < steps.length && v !== null; i++) {
    const step = steps.at(i)!;
    v = step.isString() ? v.get(step.asString()) : v.at(<i32>step.asInteger());
  }
  w.boolField("found", v !== null);
  if (v !== null) {
    w.integerField("kind", v.kind).integerField("start", v.start).integerField("end", v.end);
    w.integerField("length", v.length).stringField("raw", v.raw());
    w.boolField("isNull", v.isNull()).boolField("isBool", v.isBool()).boolField("isNumber", v.isNumber());
    w.boolField("isString", v.isString()).boolField("isArray", v.isArray()).boolField("isObject", v.isObject());
    w.boolField("bool", v.asBool()).stringField("string", v.asString());
    w.numberField("number", v.asNumber()); // NaN is written as null
    w.boolField("isInteger", v.isInteger()).stringField("integer", v.asInteger().toString());
    w.key("keys").beginArray();
    for (let i = 0; i < v.length && v.isObject(); i++) w.string(v.keyAt(i));
    w.endArray();
  }
  return output(w.endObject().toArrayBuffer());
}

/** Canonical form, or an empty buffer if the input does not parse. */
export function canonical(data: usize, maxDepth: i32): usize {
  const r = parseJson(input(data), limits(maxDepth, -1, -1));
  return output(r.ok ? canonicalJson(r.value!) : new ArrayBuffer(0));
}

/** JsonWriter.number(x). */
export function formatNumber(x: f64): usize {
  return output(new JsonWriter().number(x).toArrayBuffer());
}

/** The root's asNumber(); NaN if the input does not parse. */
export function readNumber(data: usize): f64 {
  const r = parseJson(input(data));
  return r.ok ? r.value!.asNumber() : NaN;
}

/** `data` holds UTF-16LE text. */
export function quote(data: usize): usize {
  return outputString(quoteJsonString(String.UTF16.decode(input(data))));
}

export function escape(data: usize): usize {
  return outputString(escapeJsonString(String.UTF16.decode(input(data))));
}

/**
 * Runs writer operations given as a JSON array of `[name, argument?]` and returns `ok` and
 * `isComplete()` as two bytes ('0'/'1') followed by the output.
 */
export function writerScript(data: usize): usize {
  const ops = parseJson(input(data)).value!;
  const w = new JsonWriter(4); // tiny capacity: exercises growth
  const source = parseJson(String.UTF8.encode("{\"a\" : [1, 2.50, \"\\u00e9\"], \"b\":true}")).value!;
  for (let i = 0; i < ops.length; i++) {
    const op = ops.at(i)!;
    const name = op.at(0)!.asString();
    const arg = op.length > 1 ? op.at(1)! : source;
    if (name == "beginObject") w.beginObject();
    else if (name == "endObject") w.endObject();
    else if (name == "beginArray") w.beginArray();
    else if (name == "endArray") w.endArray();
    else if (name == "key") w.key(arg.asString());
    else if (name == "string") w.string(arg.asString());
    else if (name == "number") w.number(arg.asNumber());
    else if (name == "integer") w.integer(arg.asInteger());
    else if (name == "bool") w.bool(arg.asBool());
    else if (name == "null") w.null();
    else if (name == "rawJson") w.rawJson(arg.asString());
    else if (name == "sourceValue") w.value(source);
    else if (name == "sourceCanonical") w.canonical(source);
    else if (name == "stringField") w.stringField(arg.asString(), op.at(2)!.asString());
    else if (name == "integerField") w.integerField(arg.asString(), op.at(2)!.asInteger());
    else if (name == "numberField") w.numberField(arg.asString(), op.at(2)!.asNumber());
    else if (name == "boolField") w.boolField(arg.asString(), op.at(2)!.asBool());
    else if (name == "nullField") w.nullField(arg.asString());
  }
  const body = w.toArrayBuffer();
  const out = new ArrayBuffer(body.byteLength + 2);
  store<u8>(changetype<usize>(out), w.ok ? 0x31 : 0x30);
  store<u8>(changetype<usize>(out), w.isComplete() ? 0x31 : 0x30, 1);
  memory.copy(changetype<usize>(out) + 2, changetype<usize>(body), body.byteLength);
  return output(out);
}

/** Parses `iterations` times; returns the root's length so the work cannot be optimised away. */
export function benchParse(data: usize, iterations: i32): i32 {
  const buf = input(data);
  let acc = 0;
  for (let i = 0; i < iterations; i++) acc += parseJson(buf).value!.length;
  return acc;
}

/** What a router does per request: parse, read `model`, walk `messages` reading each role. */
export function benchRoute(data: usize, iterations: i32): i32 {
  const buf = input(data);
  let acc = 0;
  for (let i = 0; i < iterations; i++) {
    const root = parseJson(buf).value!;
    const model = root.get("model");
    if (model !== null && model.stringEquals("gpt-4o-mini")) acc++;
    const messages = root.get("messages");
    if (messages !== null) {
      for (let j = 0; j < messages.length; j++) {
        const m = messages.at(j)!;
        const role = m.get("role");
        if (role !== null && role.stringEquals("user")) acc++;
      }
    }
  }
  return acc;
}

/** What a cache does per request: parse, canonicalise, hash. */
export function benchCacheKey(data: usize, iterations: i32): i32 {
  const buf = input(data);
  let acc = 0;
  for (let i = 0; i < iterations; i++) {
    acc += load<u8>(changetype<usize>(sha256(canonicalJson(parseJson(buf).value!))));
  }
  return acc;
}
