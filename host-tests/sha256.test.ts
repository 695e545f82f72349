// assembly/crypto/sha256.ts, through build/pure/sha256.wasm (host-tests/pure/sha256-entry.ts):
// the FIPS 180-4 / NIST example vectors, then node:crypto on random inputs.
import { createHash } from "node:crypto";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadPure, PureModule, utf16 } from "./pure/pure-module";
import { prng } from "./support-prng";

let mod: PureModule;
beforeAll(async () => {
  mod = await loadPure("sha256");
});
afterEach(() => {
  expect(mod.aborts).toEqual([]);
});

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const nodeSha = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");


function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

describe("sha256", () => {
  describe("NIST vectors", () => {
    it.each([
      ["empty", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
      ["abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
      ["448-bit", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
      [
        "896-bit",
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
      ],
    ])("hashes the %s message", (_name, message, digest) => {
      expect(hex(mod.bytes("hash", message))).toBe(digest);
      expect(mod.text("hashHex", message)).toBe(digest);
      for (const chunk of [1, 3, 64]) expect(hex(mod.bytes("hashChunked", message, chunk))).toBe(digest);
    });

    it("hashes one million 'a' fed in 1000-byte updates", () => {
      expect(hex(mod.bytes("hashMillionA"))).toBe("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    });
  });

  describe("against node:crypto", () => {
    const rand = prng(0x5a256);
    const boundary = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 191, 192, 4095, 4096, 4097];
    const random = Array.from({ length: 200 }, () => Math.floor(rand() * 5001));
    const lengths = [...boundary, ...random];

    it(`agrees on ${lengths.length} random inputs of 0..5000 bytes, block boundaries included`, () => {
      for (const n of lengths) {
        const data = randomBytes(rand, n);
        expect({ n, digest: hex(mod.bytes("hash", data)) }).toEqual({ n, digest: nodeSha(data) });
      }
    });

    it("agrees when the same input is streamed in chunks of any size", () => {
      for (const n of [0, 55, 56, 64, 65, 1000, 4097]) {
        const data = randomBytes(rand, n);
        const want = nodeSha(data);
        for (const chunk of [1, 7, 55, 56, 63, 64, 65, 100, 5000]) {
          expect({ n, chunk, digest: hex(mod.bytes("hashChunked", data, chunk)) }).toEqual({ n, chunk, digest: want });
        }
      }
    });

    it("hashes strings as UTF-8", () => {
      for (const s of ["", "abc", "héllo wörld", "€ and 😀", "\u0000\uffff"]) {
        expect(hex(mod.bytes("hashString", utf16(s)))).toBe(nodeSha(Buffer.from(s, "utf8")));
      }
    });
  });

  describe("Sha256 object", () => {
    it("resets after final, so one hasher serves several messages", () => {
      const out = mod.bytes("hashTwice", "first message", "abc");
      expect(hex(out.slice(0, 32))).toBe(nodeSha("first message"));
      expect(hex(out.slice(32))).toBe(nodeSha("abc"));
    });

    it.each([
      ["a range inside the buffer", 3, 10, [3, 13]],
      ["a range running past the end", 90, 50, [90, 100]],
      ["a negative offset", -5, 20, [0, 15]],
      ["an offset past the end", 150, 10, [100, 100]],
      ["a negative length", 10, -3, [10, 10]],
      ["a huge length", 1, 0x7fffffff, [1, 100]],
    ])("clamps updateRange to the buffer for %s", (_name, offset, length, [from, to]) => {
      const data = randomBytes(prng(7), 100);
      expect(hex(mod.bytes("hashRange", data, offset, length))).toBe(nodeSha(data.slice(from, to)));
    });
  });

  describe("cost", () => {
    it("measures hashing a 2 KB body", () => {
      const data = randomBytes(prng(1), 2048);
      const iterations = 5000;
      mod.call("benchHash", data, 100);
      const t0 = performance.now();
      mod.call("benchHash", data, iterations);
      const us = ((performance.now() - t0) * 1000) / iterations;
      console.log(`sha256: ${us.toFixed(2)} µs per 2 KB (${(2048 / us).toFixed(0)} MB/s)`);
      expect(us).toBeLessThan(1000);
    });
  });
});
