// Test entry for assembly/host/pairs.ts's writers, assembly/host/pairs-index.ts's lookups and the
// byte-against-code-unit compare they use (assembly/runtime/bytes.ts)
// (see io.ts for how bytes cross the boundary).
import { HeaderPair, PairsWriter, serializePairs } from "../../assembly/host/pairs";
import { PairsIndex } from "../../assembly/host/pairs-index";
import { equalsAscii, narrowAscii, sameAscii } from "../../assembly/runtime/bytes";
import { wellFormedPairs } from "../../assembly/host/pairs";
import { input, output } from "./io";
import { decodeUtf8Lossy } from "../../assembly/json/utf8";

export { alloc, byteLength, release } from "./io";

// One writer for every call, as the module keeps one: each list reuses the last one's buffers.
const writer = new PairsWriter();

/** `data`: UTF-16LE text, one "name\tvalue" per line ("" for no pairs). */
function pairsOf(data: usize): HeaderPair[] {
  const text = String.UTF16.decode(input(data));
  const out = new Array<HeaderPair>();
  if (text.length == 0) return out;
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const tab = lines[i].indexOf("\t");
    out.push(new HeaderPair(lines[i].substring(0, tab), lines[i].substring(tab + 1)));
  }
  return out;
}

/** The list as PairsWriter lays it out; every `bytesEvery`-th value goes through addBytes (0: none). */
export function written(data: usize, bytesEvery: i32): usize {
  const pairs = pairsOf(data);
  writer.begin();
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i];
    if (bytesEvery > 0 && i % bytesEvery == 0) {
      const v = String.UTF8.encode(p.value);
      writer.addBytes(p.name, changetype<usize>(v), v.byteLength);
    } else {
      writer.add(p.name, p.value);
    }
  }
  writer.finish();
  const out = new ArrayBuffer(writer.length);
  memory.copy(changetype<usize>(out), writer.ptr, <usize>writer.length);
  return output(out);
}

/** The list as serializePairs lays it out. */
export function serialized(data: usize): usize {
  return output(serializePairs(pairsOf(data)));
}

// One index for every map, as a view keeps one: each load reuses its tables.
const index = new PairsIndex();
let loaded: ArrayBuffer | null = null;

/** Loads a serialised map (its own copy, kept until the next load); 1 when well-formed. */
export function indexLoad(data: usize): i32 {
  const src = input(data);
  const copy = new ArrayBuffer(src.byteLength);
  memory.copy(changetype<usize>(copy), changetype<usize>(src), <usize>src.byteLength);
  loaded = copy;
  return index.load(changetype<usize>(copy), <usize>copy.byteLength) ? 1 : 0;
}

/** Looks up `name` (UTF-16LE) in the loaded map: "" when absent, else "=" and the value's bytes. */
export function indexFind(name: usize): usize {
  const n = String.UTF16.decode(input(name));
  if (!index.find(n)) return output(new ArrayBuffer(0));
  const out = new ArrayBuffer(1 + index.foundLength);
  store<u8>(changetype<usize>(out), 0x3d);
  memory.copy(changetype<usize>(out) + 1, index.foundAt, <usize>index.foundLength);
  return output(out);
}

/** sameAscii (assembly/runtime/bytes.ts): 1 when `bytes` (raw) are `text` (UTF-16LE)'s characters, code unit against byte. */
export function bytesAreAscii(bytes: usize, text: usize): i32 {
  const b = input(bytes);
  const s = String.UTF16.decode(input(text));
  return b.byteLength == s.length && sameAscii(changetype<usize>(b), s) ? 1 : 0;
}

/** equalsAscii: 1 when `bytes` (raw) are exactly `text` (UTF-16LE)'s characters, lengths included. */
export function bytesEqualAscii(bytes: usize, text: usize): i32 {
  const b = input(bytes);
  return equalsAscii(changetype<usize>(b), b.byteLength, String.UTF16.decode(input(text))) ? 1 : 0;
}

/** narrowAscii of `text` (UTF-16LE): its code units as bytes. */
export function narrowed(text: usize): usize {
  const units = input(text);
  const n = units.byteLength >> 1;
  const out = new ArrayBuffer(n);
  narrowAscii(changetype<usize>(out), changetype<usize>(units), n);
  return output(out);
}

/** wellFormedPairs of a serialised map: 1 when every length fits. */
export function wellFormed(data: usize): i32 {
  return wellFormedPairs(input(data)) ? 1 : 0;
}

/** `data`'s bytes as decodeUtf8Lossy reads a header value, as UTF-16LE. */
export function lossy(data: usize): usize {
  const src = input(data);
  return output(String.UTF16.encode(decodeUtf8Lossy(changetype<usize>(src), src.byteLength)));
}
