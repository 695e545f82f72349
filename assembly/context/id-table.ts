// Contexts by id, for the entry points' dispatch of stream callbacks. Open addressing over a power-of-two
// table, linear probing, deletion by shifting the following entries back (no tombstones), so a
// stream's creation and deletion allocate nothing: AssemblyScript's Map appends an entry per
// insertion and rehashes into new buffers as streams come and go, an allocation every few
// requests. Id 0 is never a context (Envoy numbers contexts from 1) and marks an empty slot.

// Pure: tested against a Map by host-tests/pure/id-table-entry.ts.

/** Objects of type `T` (a class) by non-zero u32 id. */
export class IdTable<T> {
  private ids: StaticArray<u32>;
  private contexts: StaticArray<T | null>;
  private mask: u32;
  private count: i32 = 0;

  /** `capacity`: a power of two; the table doubles when half full. */
  constructor(capacity: i32 = 64) {
    this.ids = new StaticArray<u32>(capacity);
    this.contexts = new StaticArray<T | null>(capacity);
    this.mask = <u32>capacity - 1;
  }

  get size(): i32 {
    return this.count;
  }

  /** The object of `id`, or null. */
  get(id: u32): T | null {
    if (id == 0) return null;
    const ids = this.ids;
    const mask = this.mask;
    let i = home(id) & mask;
    while (true) {
      const k = unchecked(ids[i]);
      if (k == id) return unchecked(this.contexts[i]);
      if (k == 0) return null;
      i = (i + 1) & mask;
    }
    return null;
  }

  /** Adds (or replaces) the object of `id` (0 is ignored). */
  set(id: u32, context: T): void {
    if (id == 0) return;
    if ((this.count + 1) << 1 > this.ids.length) this.grow();
    if (this.put(id, context)) this.count++;
  }

  /** Removes `id`; false when it was not there. */
  delete(id: u32): bool {
    if (id == 0) return false;
    const ids = this.ids;
    const contexts = this.contexts;
    const mask = this.mask;
    let i = home(id) & mask;
    while (true) {
      const k = unchecked(ids[i]);
      if (k == 0) return false;
      if (k == id) break;
      i = (i + 1) & mask;
    }
    // Each later entry of the run moves into the hole unless its home slot lies cyclically in
    // (hole, entry]: probing from its home must still reach it without crossing an empty slot.
    let j = i;
    while (true) {
      j = (j + 1) & mask;
      const k = unchecked(ids[j]);
      if (k == 0) break;
      const h = home(k) & mask;
      const stays = i <= j ? i < h && h <= j : i < h || h <= j;
      if (stays) continue;
      unchecked((ids[i] = k));
      unchecked((contexts[i] = unchecked(contexts[j])));
      i = j;
    }
    unchecked((ids[i] = 0));
    unchecked((contexts[i] = null));
    this.count--;
    return true;
  }

  /** Stores the pair; true when `id` was new. */
  private put(id: u32, context: T): bool {
    const ids = this.ids;
    const mask = this.mask;
    let i = home(id) & mask;
    while (true) {
      const k = unchecked(ids[i]);
      if (k == id) {
        unchecked((this.contexts[i] = context));
        return false;
      }
      if (k == 0) {
        unchecked((ids[i] = id));
        unchecked((this.contexts[i] = context));
        return true;
      }
      i = (i + 1) & mask;
    }
    return false;
  }

  private grow(): void {
    const oldIds = this.ids;
    const oldContexts = this.contexts;
    const capacity = oldIds.length << 1;
    this.ids = new StaticArray<u32>(capacity);
    this.contexts = new StaticArray<T | null>(capacity);
    this.mask = <u32>capacity - 1;
    for (let i = 0; i < oldIds.length; i++) {
      const k = unchecked(oldIds[i]);
      if (k != 0) this.put(k, changetype<T>(unchecked(oldContexts[i])));
    }
  }
}

// Ids come in sequence; multiplying by a large odd constant and folding the high bits down
// spreads neighbours over the table.
// @ts-ignore: decorator
@inline
function home(id: u32): u32 {
  const h = id * 0x9e3779b1;
  return h ^ (h >>> 16);
}
