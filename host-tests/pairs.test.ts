// assembly/host/pairs.ts's writers and assembly/host/pairs-index.ts's lookups, through
// build/pure/pairs.wasm (host-tests/pure/pairs-entry.ts): PairsWriter (the reused layout of a
// local response's headers) and serializePairs (a copy of its layout) against the ABI's layout
// written here (proxy-wasm-cpp-host pairs_util.cc: u32 count, a u32 name and value length per
// pair, then each name and value followed by a NUL byte); PairsIndex against a scan of the same
// pairs, indexed and too large to index, with duplicates and colliding names.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadPure, PureModule, utf16 } from "./pure/pure-module";
import { prng } from "./support-prng";

let mod: PureModule;
beforeAll(async () => {
  mod = await loadPure("pairs");
});
afterEach(() => {
  expect(mod.aborts).toEqual([]);
});

function layout(pairs: [string, string][]): Uint8Array {
  const enc = new TextEncoder();
  const parts = pairs.map(([n, v]) => [enc.encode(n), enc.encode(v)]);
  const size = 4 + pairs.length * 8 + parts.reduce((s, [n, v]) => s + n.length + v.length + 2, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, pairs.length, true);
  let at = 4 + pairs.length * 8;
  parts.forEach(([n, v], i) => {
    view.setUint32(4 + i * 8, n.length, true);
    view.setUint32(8 + i * 8, v.length, true);
    out.set(n, at);
    at += n.length + 1;
    out.set(v, at);
    at += v.length + 1;
  });
  return out;
}

const text = (pairs: [string, string][]) => utf16(pairs.map(([n, v]) => `${n}\t${v}`).join("\n"));

function randomPairs(rand: () => number, count: number): [string, string][] {
  const word = (max: number) => Array.from({ length: Math.floor(rand() * max) }, () => "abcdefghij-0123456789é€"[Math.floor(rand() * 23)]).join("");
  return Array.from({ length: count }, () => [word(20) || "x", word(rand() < 0.1 ? 3000 : 40)]);
}

describe("PairsWriter", () => {
  it("lays out what serializePairs and the ABI lay out, reusing its buffers from list to list", () => {
    const rand = prng(11);
    for (let round = 0; round < 300; round++) {
      const pairs = randomPairs(rand, Math.floor(rand() * 33));
      const want = layout(pairs);
      expect(mod.bytes("serialized", text(pairs))).toEqual(want);
      expect(mod.bytes("written", text(pairs), 0)).toEqual(want);
      expect(mod.bytes("written", text(pairs), 2)).toEqual(want);
    }
  });

  it("takes any number of pairs, its buffers growing", () => {
    const pairs = randomPairs(prng(3), 300);
    expect(mod.bytes("written", text(pairs), 3)).toEqual(layout(pairs));
    expect(mod.bytes("serialized", text(pairs))).toEqual(layout(pairs));
  });
});

describe("PairsIndex", () => {
  /**
   * What a lookup must find: the first header of that name. Names are compared code unit against
   * byte, as Envoy's names are ASCII: a non-ASCII name (which Envoy never passes) is never found.
   */
  const firstValue = (pairs: [string, string][], name: string) => (/^[\x00-\x7f]*$/.test(name) ? pairs.find(([n]) => n === name)?.[1] : undefined);
  const find = (name: string): string | undefined => {
    const got = mod.bytes("indexFind", utf16(name));
    return got.length === 0 ? undefined : new TextDecoder().decode(got.subarray(1));
  };

  // Names that share length, first and last byte (one slot), a name and its prefix, duplicates.
  const POOL = ["x-a1z", "x-a2z", "x-a3z", "host", "hoxt", ":path", ":method", ":authority", "content-type", "content-length",
    "authorization", "x-session-id", "x-ai-model", "x-ai-model-version", "x-ai-tenant", "x-ai-cluster", "a", "b", "ab", "ba", "é", "x-€"];

  it.each([1, 5, 12, 32, 33, 60])("finds the first value of every name, and nothing for absent ones, in maps of %i headers over 300 maps", (count) => {
    const rand = prng(count);
    for (let round = 0; round < 300; round++) {
      const pairs: [string, string][] = Array.from({ length: count }, (_, i) => [POOL[Math.floor(rand() * POOL.length)], `v${i}-${"é".repeat(Math.floor(rand() * 3))}`]);
      expect(mod.call("indexLoad", layout(pairs))).toBe(1);
      for (const name of [...POOL, "", "x-a4z", "x-a1", "authorizatioN", "AUTHORIZATION", "hos", "hosts"]) {
        expect(find(name), `${name} in ${JSON.stringify(pairs)}`).toBe(firstValue(pairs, name));
      }
    }
  });

  it("finds an empty name and empty values", () => {
    const pairs: [string, string][] = [["a", ""], ["", "empty name"], ["b", "x"], ["", "second"]];
    expect(mod.call("indexLoad", layout(pairs))).toBe(1);
    expect(find("a")).toBe("");
    expect(find("")).toBe("empty name");
    expect(find("b")).toBe("x");
  });

  it("refuses malformed maps and then finds nothing", () => {
    const good = layout([["a", "1"], ["b", "2"]]);
    const cases: [string, Uint8Array][] = [
      ["too short", new Uint8Array([1, 0])],
      ["a count beyond the buffer", (() => { const b = good.slice(); new DataView(b.buffer).setUint32(0, 1000, true); return b; })()],
      ["a name length beyond the buffer", (() => { const b = good.slice(); new DataView(b.buffer).setUint32(4, 1000, true); return b; })()],
      ["a value without its NUL", good.subarray(0, good.length - 1)],
    ];
    for (const [what, bytes] of cases) {
      expect(mod.call("indexLoad", bytes), what).toBe(0);
      expect(find("a"), what).toBeUndefined();
      // wellFormedPairs (parsePairs' check) is the index's check.
      expect(mod.call("wellFormed", bytes), what).toBe(0);
    }
    expect(mod.call("indexLoad", new Uint8Array([0, 0, 0, 0]))).toBe(1);
    expect(find("a")).toBeUndefined();
    expect(mod.call("wellFormed", good)).toBe(1);
    // Past the indexed size too: 40 headers are checked (and scanned), not indexed.
    const many = layout(Array.from({ length: 40 }, (_, i): [string, string] => [`h${i}`, `v${i}`]));
    expect(mod.call("wellFormed", many)).toBe(1);
    expect(mod.call("wellFormed", many.subarray(0, many.length - 1))).toBe(0);
  });
});

describe("sameAscii", () => {
  // Bytes against a string's code units, four at a time and then one by one: every length across
  // the four-unit steps, a difference at every position, bytes >= 0x80 and code units > 0xFF
  // (which no byte equals), against the obvious compare.
  it("agrees with a compare unit by unit on every length and difference position", () => {
    const rand = prng(91);
    const same = (bytes: Uint8Array, s: string) => bytes.length === s.length && [...bytes].every((b, i) => b === s.charCodeAt(i));
    const units = [0x61, 0x2d, 0x00, 0x7f, 0x80, 0xe9, 0xff, 0x100, 0x161, 0xff61, 0x4100];
    let checked = 0;
    for (let n = 0; n <= 19; n++) {
      for (let trial = 0; trial < 40; trial++) {
        const codes = Array.from({ length: n }, () => (rand() < 0.8 ? 0x61 + Math.floor(rand() * 26) : units[Math.floor(rand() * units.length)]));
        const s = String.fromCharCode(...codes);
        const bytes = Uint8Array.from(codes, (c) => c & 0xff);
        expect(mod.call("bytesAreAscii", bytes, utf16(s)), JSON.stringify(s)).toBe(same(bytes, s) ? 1 : 0);
        for (let at = 0; at < n; at++) {
          const changed = bytes.slice();
          changed[at] ^= 1 << Math.floor(rand() * 8);
          expect(mod.call("bytesAreAscii", changed, utf16(s)), `${JSON.stringify(s)} at ${at}`).toBe(same(changed, s) ? 1 : 0);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(7000);
    // equalsAscii adds the length; narrowAscii writes the code units as bytes.
    expect(mod.call("bytesEqualAscii", new TextEncoder().encode("total_tokens"), utf16("total_tokens"))).toBe(1);
    expect(mod.call("bytesEqualAscii", new TextEncoder().encode("total_token"), utf16("total_tokens"))).toBe(0);
    expect(mod.call("bytesEqualAscii", new TextEncoder().encode("total_tokens_"), utf16("total_tokens"))).toBe(0);
    expect(mod.call("bytesEqualAscii", new Uint8Array(0), utf16(""))).toBe(1);
    for (let n = 0; n <= 19; n++) {
      const s = Array.from({ length: n }, () => String.fromCharCode(0x20 + Math.floor(rand() * 95))).join("");
      expect(Buffer.from(mod.bytes("narrowed", utf16(s))).toString("latin1"), JSON.stringify(s)).toBe(s);
    }
    expect(mod.call("bytesAreAscii", new TextEncoder().encode("content-type"), utf16("content-type"))).toBe(1);
    expect(mod.call("bytesAreAscii", new TextEncoder().encode("content-typf"), utf16("content-type"))).toBe(0);
  });
});

describe("decodeUtf8Lossy (header values, SSE fields)", () => {
  // The WHATWG decoder replaces each maximal ill-formed subpart with one U+FFFD: the reference.
  const whatwg = (bytes: Uint8Array) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
  const lossy = (bytes: Uint8Array) => new TextDecoder("utf-16le").decode(mod.bytes("lossy", bytes));

  it("never reads an overlong form or a swallowed ASCII byte as another text", () => {
    // C1 A7 is an overlong "g"; C1 27 would take the quote as a continuation byte.
    expect(lossy(Uint8Array.from([0xc1, 0xa7, 0x70, 0x74]))).toBe("\uFFFD\uFFFDpt");
    expect(lossy(Uint8Array.from([0xc1, 0x27, 0x70, 0x74]))).toBe("\uFFFD'pt");
    expect(lossy(Uint8Array.from([0xe0, 0x81, 0xa7, 0x70, 0x74]))).toBe("\uFFFD\uFFFD\uFFFDpt");
    // Beyond U+10FFFF and encoded surrogates: no lone surrogate in the string made.
    expect(lossy(Uint8Array.from([0xf4, 0x90, 0x80, 0x80]))).toBe("\uFFFD\uFFFD\uFFFD\uFFFD");
    expect(lossy(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe("\uFFFD\uFFFD\uFFFD");
    // A truncated sequence is one replacement, the byte after it kept.
    expect(lossy(Uint8Array.from([0xe2, 0x82, 0x41]))).toBe("\uFFFDA");
    expect(lossy(new TextEncoder().encode("llama-é€😀"))).toBe("llama-é€😀");
    expect(lossy(new Uint8Array(0))).toBe("");
  });

  it("agrees with TextDecoder on random bytes, valid UTF-8 and ASCII", () => {
    const rand = prng(23);
    const interesting = [0x00, 0x27, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];
    for (let round = 0; round < 3000; round++) {
      const n = Math.floor(rand() * 24);
      const bytes = Uint8Array.from({ length: n }, () => (rand() < 0.6 ? interesting[Math.floor(rand() * interesting.length)] : Math.floor(rand() * 256)));
      expect(lossy(bytes), `bytes ${Buffer.from(bytes).toString("hex")}`).toBe(whatwg(bytes));
    }
    for (const s of ["", "x-session-0001", "application/json; charset=utf-8", "naïve ✓ 𝄞 end"]) expect(lossy(new TextEncoder().encode(s))).toBe(s);
  });
});
