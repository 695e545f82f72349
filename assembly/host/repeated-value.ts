// A value read in place (a header's, a JSON string's) as a string, the same string as last time
// when the bytes are the same: a request's method, content type or model is nearly always the
// one before, and no string is then made for it. Strings are immutable, so handing the same one
// to every request that asks is safe.

import { PairsView } from "./pairs-view";
import { sameBytes } from "../runtime/bytes";
import { decodeUtf8Lossy } from "../json/utf8";

/** Longest value kept for the next comparison (longer ones are decoded every time). */
const MAX_REPEATED_BYTES: i32 = 256;

export class RepeatedValue {
  private bytes: ArrayBuffer = new ArrayBuffer(0);
  private value: string = "";

  /** The `n` bytes at `p` as a string (`decodeUtf8Lossy`: ill-formed bytes as U+FFFD). */
  ofBytes(p: usize, n: i32): string {
    const known = this.bytes;
    if (n == known.byteLength && sameBytes(p, changetype<usize>(known), n)) return this.value;
    const value = decodeUtf8Lossy(p, n);
    if (n <= MAX_REPEATED_BYTES) {
      const copy = new ArrayBuffer(n);
      memory.copy(changetype<usize>(copy), p, <usize>n);
      this.bytes = copy;
      this.value = value;
    }
    return value;
  }

  /** The first value of `name` (lower-case) in `view`, or null when absent. */
  of(view: PairsView, name: string): string | null {
    if (!view.find(name)) return null;
    return this.ofBytes(view.valuePtr, view.valueLength);
  }
}
