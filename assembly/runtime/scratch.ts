// Reusable UTF-8 buffers for the strings a host call only reads (header names and values,
// shared-data keys). The host copies them before returning, so encoding into two long-lived
// buffers instead of a new ArrayBuffer per call keeps the request path free of these
// allocations. Two slots because some calls pass two strings (name and value).

let slotA = new ArrayBuffer(256);
let slotB = new ArrayBuffer(1024);
let lengthA: usize = 0;
let lengthB: usize = 0;

function grown(buf: ArrayBuffer, need: i32): ArrayBuffer {
  if (need <= buf.byteLength) return buf;
  let size = buf.byteLength;
  while (size < need) size <<= 1;
  return new ArrayBuffer(size);
}

/** Encodes `s` into the first slot; returns its address (`scratchLengthA` bytes). */
export function scratchA(s: string): usize {
  const need = String.UTF8.byteLength(s);
  slotA = grown(slotA, need);
  lengthA = String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, changetype<usize>(slotA));
  return changetype<usize>(slotA);
}

/** Encodes `s` into the second slot; returns its address (`scratchLengthB` bytes). */
export function scratchB(s: string): usize {
  const need = String.UTF8.byteLength(s);
  slotB = grown(slotB, need);
  lengthB = String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, changetype<usize>(slotB));
  return changetype<usize>(slotB);
}

// @ts-ignore: decorator
@inline
export function scratchLengthA(): usize {
  return lengthA;
}

/** Address of the second slot: the last string `scratchB` encoded, until it encodes another. */
// @ts-ignore: decorator
@inline
export function scratchPtrB(): usize {
  return changetype<usize>(slotB);
}

// @ts-ignore: decorator
@inline
export function scratchLengthB(): usize {
  return lengthB;
}
