// Byte passing between the tests and a pure test module. The test allocates an input buffer with
// `alloc` (pinned, so the collector leaves it alone), writes into it, passes its address, and
// `release`s it after the call. Functions return results as pinned ArrayBuffers, which the test
// reads with `byteLength` and then `release`s.

// Compiled for asconfig's `use abort=...`: an abort logs through env.proxy_log, which the test
// harness turns into a failure.
import "../../assembly/runtime/abort";

/** A pinned ArrayBuffer of `size` bytes; its address is also the buffer's data. */
export function alloc(size: i32): usize {
  const ptr = __new(<usize>size, idof<ArrayBuffer>());
  __pin(ptr);
  return ptr;
}

export function release(ptr: usize): void {
  __unpin(ptr);
}

export function byteLength(ptr: usize): i32 {
  return changetype<ArrayBuffer>(ptr).byteLength;
}

/** The buffer the test passed in. */
export function input(ptr: usize): ArrayBuffer {
  return changetype<ArrayBuffer>(ptr);
}

/** Hands `buf` to the test (pinned until it calls `release`). */
export function output(buf: ArrayBuffer): usize {
  const ptr = changetype<usize>(buf);
  __pin(ptr);
  return ptr;
}

export function outputString(s: string): usize {
  return output(String.UTF8.encode(s));
}
