// Guest memory handed to the host. The host fills out-params by calling our exported `malloc`;
// we allocate a GC-managed ArrayBuffer, pin it so a collection cannot free it while only the host
// knows the address, and unpin it when the layer takes ownership. Nothing is copied twice.
//
// A reader that fetches the same kind of data for every request (a header map) may instead lend
// its last buffer for the host's next allocation: when it is large enough, the host writes into
// it, and the request allocates, pins and later frees nothing for that read.

import { BLOCK, OBJECT, OBJECT_OVERHEAD, TOTAL_OVERHEAD } from "~lib/rt/common";
import { countHostBytes } from "./collect";

// Out-param slots in static data: the ABI is single-threaded and the host never re-enters the
// guest between filling them and our reading them (local responses and stream continuations are
// deferred until the guest call returns), so one set suffices.
export const OUT_PTR: usize = memory.data(4, 4);
export const OUT_SIZE: usize = memory.data(4, 4);
export const OUT_U32: usize = memory.data(4, 4);
export const OUT_U64: usize = memory.data(8, 8);

// The buffer lent for the next host allocation (0: none), and the one a host allocation was
// given (its owner holds it: it is not pinned, so it must not be unpinned).
let lent: usize = 0;
let handedLent: usize = 0;

/**
 * Lends `buf` (a heap ArrayBuffer its caller keeps) for the host's next allocation, within the
 * host call about to be made: call after `clearOut`, before the call; `takeOut` ends the loan.
 * The buffer's old contents are overwritten, and its length becomes what the host asked for.
 */
export function lendToHost(buf: ArrayBuffer | null): void {
  lent = changetype<usize>(buf);
}

/** Bytes the heap block of ArrayBuffer `ptr` can hold: its length may grow up to this in place. */
export function capacityOf(ptr: usize): usize {
  return (changetype<BLOCK>(ptr - TOTAL_OVERHEAD).mmInfo & ~3) - OBJECT_OVERHEAD;
}

/**
 * What a reader keeps to lend for its next copy of a kind: `copy`, the host's copy just taken,
 * when its block holds at most `maxBytes`, else what it kept so far. Bounds what readers hold
 * between requests.
 */
export function keepForLoan(copy: ArrayBuffer | null, kept: ArrayBuffer | null, maxBytes: i32): ArrayBuffer | null {
  // A copy with bytes came from the host's `malloc`: a heap block, whose size can be read.
  return copy !== null && copy.byteLength > 0 && capacityOf(changetype<usize>(copy)) <= <usize>maxBytes ? copy : kept;
}

/** Allocation entry point the host calls to copy data into the guest. */
export function hostMalloc(size: usize): usize {
  const loan = lent;
  lent = 0;
  if (loan != 0 && size <= capacityOf(loan)) {
    // The block stays the same size; only the length the buffer reports changes.
    changetype<OBJECT>(loan - TOTAL_OVERHEAD).rtSize = <u32>size;
    handedLent = loan;
    return loan;
  }
  countHostBytes(size);
  const ptr = __new(size, idof<ArrayBuffer>());
  __pin(ptr);
  return ptr;
}

/** Clears the out-params before a host call, so a failed call leaves nothing to take. */
// @ts-ignore: decorator
@inline
export function clearOut(): void {
  store<u32>(OUT_PTR, 0);
  store<u32>(OUT_SIZE, 0);
}

/**
 * Takes ownership of the buffer the host wrote into the out-params, if any. Called after every
 * host call that may allocate, whatever its status, so a buffer the host filled before failing
 * is not left pinned forever.
 */
export function takeOut(): ArrayBuffer | null {
  lent = 0;
  // The loan ends with the call, whether or not the host wrote the out-param.
  const loan = handedLent;
  handedLent = 0;
  const ptr = load<u32>(OUT_PTR) as usize;
  if (ptr == 0) return null;
  store<u32>(OUT_PTR, 0);
  if (ptr == loan) return changetype<ArrayBuffer>(ptr);
  __unpin(ptr);
  const buf = changetype<ArrayBuffer>(ptr);
  // The host allocates exactly the size it reports; trim defensively if it ever reports less.
  const size = load<u32>(OUT_SIZE);
  return size < <u32>buf.byteLength ? buf.slice(0, <i32>size) : buf;
}
