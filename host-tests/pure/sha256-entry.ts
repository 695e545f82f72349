// Test entry for assembly/crypto/sha256.ts (see io.ts for how bytes cross the boundary).
import { sha256, Sha256, toHex } from "../../assembly/crypto/sha256";
import { input, output, outputString } from "./io";

export { alloc, byteLength, release } from "./io";

export function hash(data: usize): usize {
  return output(sha256(input(data)));
}

/** Streams the input in chunks of `chunk` bytes (through updateRange). */
export function hashChunked(data: usize, chunk: i32): usize {
  const buf = input(data);
  const h = new Sha256();
  for (let off = 0; off < buf.byteLength; off += chunk) h.updateRange(buf, off, chunk);
  return output(h.final());
}

export function hashHex(data: usize): usize {
  return outputString(toHex(sha256(input(data))));
}

export function hashRange(data: usize, offset: i32, length: i32): usize {
  return output(new Sha256().updateRange(input(data), offset, length).final());
}

/** `data` holds UTF-16LE text; hashes its UTF-8 form through updateString. */
export function hashString(data: usize): usize {
  return output(new Sha256().updateString(String.UTF16.decode(input(data))).final());
}

/** One million 'a', fed in 1000-byte updates. */
export function hashMillionA(): usize {
  const chunk = new ArrayBuffer(1000);
  memory.fill(changetype<usize>(chunk), 0x61, 1000);
  const h = new Sha256();
  for (let i = 0; i < 1000; i++) h.update(chunk);
  return output(h.final());
}

/** Hashes `a`, then reuses the same hasher (final resets it) for `b`; returns both digests. */
export function hashTwice(a: usize, b: usize): usize {
  const h = new Sha256();
  const first = h.update(input(a)).final();
  const second = h.update(input(b)).final();
  const out = new ArrayBuffer(64);
  memory.copy(changetype<usize>(out), changetype<usize>(first), 32);
  memory.copy(changetype<usize>(out) + 32, changetype<usize>(second), 32);
  return output(out);
}

export function benchHash(data: usize, iterations: i32): i32 {
  const buf = input(data);
  let acc = 0;
  for (let i = 0; i < iterations; i++) acc += load<u8>(changetype<usize>(sha256(buf)));
  return acc;
}
