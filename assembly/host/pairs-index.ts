// Name lookups in a header map as the host serialises it (pairs.ts's layout), in constant time:
// a stage asks for a dozen headers per request (its inputs, and its outputs' client-sent
// copies), and each scanned every header of the request: a cost that grows with the headers a
// client sends (ten in the bench, twenty and more from browsers and tracing proxies). So the map
// is indexed once as it is checked: an open-addressing table keyed by a name's length, first
// and last byte. Maps of more than MAX_INDEXED headers are scanned instead. The first header of
// a name is the one found, as in a scan. Pure: no host calls.

import { sameAscii } from "../runtime/bytes";

/** Slots of the table (a power of two, at most 256: a slot holds a header's index + 1 as a byte). */
const SLOTS: i32 = 64;
/** Most headers indexed (half the slots, so probes stay short); larger maps are scanned. */
export const MAX_INDEXED: i32 = SLOTS >> 1;

export class PairsIndex {
  private slots: StaticArray<u8> = new StaticArray<u8>(SLOTS);
  // Per indexed header: its name's offset from the map's start, its name's and value's lengths.
  private nameAt: StaticArray<i32> = new StaticArray<i32>(MAX_INDEXED);
  private nameLength: StaticArray<i32> = new StaticArray<i32>(MAX_INDEXED);
  private valueLength: StaticArray<i32> = new StaticArray<i32>(MAX_INDEXED);
  private base: usize = 0;
  private count: i32 = 0;
  private indexed: bool = false;
  /** Where the last successful `find` found its value. */
  foundAt: usize = 0;
  foundLength: i32 = 0;

  /**
   * Checks the serialised map of `total` bytes at `base` (every length within the buffer) and
   * indexes it; false, and nothing to find, when it is malformed.
   */
  load(base: usize, total: usize): bool {
    this.base = base;
    this.count = 0;
    this.indexed = false;
    if (total < 4) return false;
    const n = <usize>load<u32>(base);
    if (n > (total - 4) / 8) return false;
    const index = n <= <usize>MAX_INDEXED;
    if (index) memory.fill(changetype<usize>(this.slots), 0, <usize>SLOTS);
    let lengths = base + 4;
    let data = base + 4 + n * 8;
    const end = base + total;
    for (let i = 0; i < <i32>n; i++) {
      const nameLen = <usize>load<u32>(lengths);
      const valueLen = <usize>load<u32>(lengths + 4);
      lengths += 8;
      if (nameLen > end - data || valueLen > end - data - nameLen || end - data - nameLen - valueLen < 2) return false;
      if (index) this.insert(i, <i32>(data - base), <i32>nameLen, <i32>valueLen);
      data += nameLen + valueLen + 2;
    }
    this.count = <i32>n;
    this.indexed = index;
    return true;
  }

  /** Forgets the map. */
  clear(): void {
    this.base = 0;
    this.count = 0;
    this.indexed = false;
  }

  /** Headers in the map. */
  get size(): i32 {
    return this.count;
  }

  private insert(i: i32, nameAt: i32, nameLen: i32, valueLen: i32): void {
    unchecked((this.nameAt[i] = nameAt));
    unchecked((this.nameLength[i] = nameLen));
    unchecked((this.valueLength[i] = valueLen));
    if (nameLen == 0) return; // found by the scan only
    const p = this.base + <usize>nameAt;
    let h = slotOf(nameLen, load<u8>(p), load<u8>(p + <usize>(nameLen - 1)));
    while (true) {
      const s = <i32>unchecked(this.slots[h]);
      if (s == 0) {
        unchecked((this.slots[h] = <u8>(i + 1)));
        return;
      }
      // A later header of a name already indexed stays out: the first is the one found.
      const j = s - 1;
      if (unchecked(this.nameLength[j]) == nameLen && memory.compare(this.base + <usize>unchecked(this.nameAt[j]), p, <usize>nameLen) == 0) return;
      h = (h + 1) & (SLOTS - 1);
    }
  }

  /**
   * Finds header `name` (lower-case ASCII, as Envoy keys them: code units against bytes); on
   * success `foundAt`/`foundLength` give its first value's bytes.
   */
  find(name: string): bool {
    const n = name.length;
    if (!this.indexed || n == 0) return this.scan(name);
    const p = changetype<usize>(name);
    let h = slotOf(n, <u32>load<u16>(p), <u32>load<u16>(p + (<usize>(n - 1) << 1)));
    while (true) {
      const s = <i32>unchecked(this.slots[h]);
      if (s == 0) return false;
      const j = s - 1;
      if (unchecked(this.nameLength[j]) == n) {
        const at = this.base + <usize>unchecked(this.nameAt[j]);
        if (sameAscii(at, name)) {
          this.foundAt = at + <usize>n + 1;
          this.foundLength = unchecked(this.valueLength[j]);
          return true;
        }
      }
      h = (h + 1) & (SLOTS - 1);
    }
  }

  /** How many headers of `name` (lower-case ASCII) the map has: one scan of every name. */
  countOf(name: string): i32 {
    return this.walk(name, false);
  }

  /** `find` by reading every name, for maps too large to index (and the empty name). */
  private scan(name: string): bool {
    return this.walk(name, true) > 0;
  }

  /**
   * Reads every name in map order and counts those equal to `name`; with `firstOnly` stops at the
   * first, whose value `foundAt`/`foundLength` then give.
   */
  private walk(name: string, firstOnly: bool): i32 {
    const n = this.count;
    const want = name.length;
    let lengths = this.base + 4;
    let data = this.base + 4 + (<usize>n << 3);
    let found = 0;
    for (let i = 0; i < n; i++) {
      const nameLen = <i32>load<u32>(lengths);
      const valueLen = <i32>load<u32>(lengths + 4);
      lengths += 8;
      if (nameLen == want && sameAscii(data, name)) {
        if (firstOnly) {
          this.foundAt = data + <usize>nameLen + 1;
          this.foundLength = valueLen;
          return 1;
        }
        found++;
      }
      data += <usize>(nameLen + valueLen + 2);
    }
    return found;
  }
}

/** The slot of a name from its length and end bytes (a byte and a code unit of ASCII agree). */
// @ts-ignore: decorator
@inline
function slotOf(length: i32, first: u32, last: u32): i32 {
  const x = (<u32>length * 0x9E3779B1) ^ (first * 0x85EBCA77) ^ (last * 0xC2B2AE3D);
  return <i32>((x * 0x27D4EB2F) >>> 26) & (SLOTS - 1);
}
