// assembly/context/id-table.ts (the entry points' stream contexts by id), through
// build/pure/id-table.wasm (host-tests/pure/id-table-entry.ts): random insertions, lookups and
// deletions checked against a Map, with ids in sequence (as Envoy numbers contexts), scattered,
// and colliding in the table's low bits, across growth and backward-shift deletion.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadPure, PureModule } from "./pure/pure-module";
import { prng } from "./support-prng";

let mod: PureModule;
beforeAll(async () => {
  mod = await loadPure("id-table");
});
afterEach(() => {
  expect(mod.aborts).toEqual([]);
});

type IdSource = (rand: () => number, n: number) => number;
const SOURCES: [string, IdSource][] = [
  ["ids in sequence, a few hundred live", (_, n) => n + 1],
  ["scattered ids", (rand) => 1 + Math.floor(rand() * 0xfffffffe)],
  ["ids that share their low bits", (rand) => (1 + Math.floor(rand() * 4000)) * 1024],
  ["a small id space (many repeats)", (rand) => 1 + Math.floor(rand() * 50)],
];

describe("IdTable", () => {
  it.each(SOURCES)("agrees with a Map over 50,000 random operations: %s", (_, nextId) => {
    const rand = prng(7);
    mod.call("reset", 4);
    const ref = new Map<number, number>();
    const live: number[] = [];
    let n = 0;
    for (let step = 0; step < 50_000; step++) {
      const r = rand();
      if (r < 0.45 || live.length === 0) {
        const id = nextId(rand, n++) >>> 0;
        const value = step;
        mod.call("set", id, value);
        if (!ref.has(id)) live.push(id);
        ref.set(id, value);
      } else if (r < 0.9) {
        // Delete a live id (oldest first half the time, as streams end roughly in order).
        const at = rand() < 0.5 ? 0 : Math.floor(rand() * live.length);
        const id = live[at];
        live.splice(at, 1);
        expect(mod.call("remove", id)).toBe(1);
        ref.delete(id);
      } else {
        const id = rand() < 0.5 && live.length > 0 ? live[Math.floor(rand() * live.length)] : nextId(rand, n) >>> 0;
        expect(mod.call("get", id)).toBe(ref.get(id) ?? -1);
      }
      if (live.length > 300) {
        const id = live.shift()!;
        expect(mod.call("remove", id)).toBe(1);
        ref.delete(id);
      }
    }
    expect(mod.call("size")).toBe(ref.size);
    for (const [id, value] of ref) expect(mod.call("get", id)).toBe(value);
    expect(mod.call("remove", 0)).toBe(0);
    expect(mod.call("get", 0)).toBe(-1);
  });
});
