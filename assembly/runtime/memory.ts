// Guest memory handed to the host. The host fills out-params by calling our exported `malloc`;
// we allocate a GC-managed ArrayBuffer, pin it so a collection cannot free it while only the host
// knows the address, and unpin it when the layer takes ownership. Nothing is copied twice.

import { countHostBytes } from "./collect";

// Out-param slots in static data: the ABI is single-threaded and the host never re-enters the
// guest between filling them and our reading them (local responses and stream continuations are
// deferred until the guest call returns), so one set suffices.
export const OUT_PTR: usize = memory.data(4, 4);
export const OUT_SIZE: usize = memory.data(4, 4);
export const OUT_U32: usize = memory.data(4, 4);
export const OUT_U64: usize = memory.data(8, 8);

/** Allocation entry point the host calls to copy data into the guest. */
export function hostMalloc(size: usize): usize {
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
  const ptr = load<u32>(OUT_PTR) as usize;
  if (ptr == 0) return null;
  store<u32>(OUT_PTR, 0);
  __unpin(ptr);
  const buf = changetype<ArrayBuffer>(ptr);
  // The host allocates exactly the size it reports; trim defensively if it ever reports less.
  const size = load<u32>(OUT_SIZE);
  return size < <u32>buf.byteLength ? buf.slice(0, <i32>size) : buf;
}
