// Garbage collection for `--runtime minimal` (asconfig.json), chosen by measurement over the
// incremental collector: without write barriers, shadow-stack checks and GC steps on every
// allocation, a routed request costs less, and a full collection now and then costs less than
// the steps it replaces. The minimal runtime collects only when told, and has no shadow stack:
// a reference held only by a local would be freed. So collections run only as the last act of an
// entry point, when no local holds anything: after many stream deletions (most garbage is one
// request's), after many other callbacks (a long stream, a root's ticks), or sooner once the
// buffers the host handed in (headers, bodies: most of the bytes) reach AFTER_HOST_BYTES, which
// bounds the garbage a worker's VM holds whatever the body sizes.
//
// A collection marks everything alive (configuration, tables), so its cost is spread over the
// requests between two: in the emulator, a body-routed request spent 6.2 µs in the guest with a
// collection every 16 requests, 5.3 µs every 64, 4.7 µs every 256.

/** Stream deletions between collections. */
const AFTER_DELETES: u32 = 256;
/** Other entry points between collections. */
const AFTER_CALLS: u32 = 1024;
/** Bytes of host buffers (`malloc` from the host) between collections. */
const AFTER_HOST_BYTES: usize = 1 << 20;

let deletes: u32 = 0;
let calls: u32 = 0;
let hostBytes: usize = 0;

/** Counts a buffer the host asked for (the exported `malloc`). */
// @ts-ignore: decorator
@inline
export function countHostBytes(size: usize): void {
  hostBytes += size;
}

/** Call last in `proxy_on_delete`. */
export function collectAfterDelete(): void {
  if (++deletes < AFTER_DELETES && hostBytes < AFTER_HOST_BYTES) return;
  collectNow();
}

/** Call last in entry points that may allocate and that no deletion follows soon. */
export function collectAfterCall(): void {
  if (++calls < AFTER_CALLS && hostBytes < AFTER_HOST_BYTES) return;
  collectNow();
}

function collectNow(): void {
  deletes = 0;
  calls = 0;
  hostBytes = 0;
  __collect();
}
