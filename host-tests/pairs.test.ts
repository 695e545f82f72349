// assembly/host/pairs.ts's writers, through build/pure/pairs.wasm (host-tests/pure/pairs-entry.ts):
// PairsWriter (the reused layout of a local response's headers) and serializePairs (a copy of
// its layout) against the ABI's layout written here (proxy-wasm-cpp-host pairs_util.cc: u32 count, a u32
// name and value length per pair, then each name and value followed by a NUL byte).
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
