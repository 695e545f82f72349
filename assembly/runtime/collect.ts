// Garbage collection for `--runtime minimal` (asconfig.json), chosen by measurement over the
// incremental collector: without write barriers, shadow-stack checks and GC steps on every
// allocation, a routed request costs less, and a full collection now and then costs less than
// the steps it replaces. The minimal runtime collects only when told, and has no shadow stack:
// a reference held only by a local would be freed. So collections run only as the last act of an
// entry point, when no local holds anything: after every few stream deletions (most garbage is
// one request's), and after every many other callbacks, which bounds what a long stream or a
// root's ticks can pile up between two deletions.

/** Stream deletions between collections. */
const AFTER_DELETES: u32 = 16;
/** Other entry points between collections. */
const AFTER_CALLS: u32 = 256;

let deletes: u32 = 0;
let calls: u32 = 0;

/** Call last in `proxy_on_delete`. */
export function collectAfterDelete(): void {
  if (++deletes < AFTER_DELETES) return;
  deletes = 0;
  calls = 0;
  __collect();
}

/** Call last in entry points that may allocate and that no deletion follows soon. */
export function collectAfterCall(): void {
  if (++calls < AFTER_CALLS) return;
  deletes = 0;
  calls = 0;
  __collect();
}
