// Test entry for assembly/context/id-table.ts: one table of boxed numbers, driven op by op.
import { IdTable } from "../../assembly/context/id-table";

export { alloc, byteLength, release } from "./io";

class Box {
  constructor(public value: i32) {}
}

let table = new IdTable<Box>(4);

/** Starts over with an empty table of `capacity` slots (a power of two). */
export function reset(capacity: i32): void {
  table = new IdTable<Box>(capacity);
}

export function set(id: u32, value: i32): void {
  table.set(id, new Box(value));
}

/** The value stored under `id`, or -1. */
export function get(id: u32): i32 {
  const b = table.get(id);
  return b === null ? -1 : b.value;
}

export function remove(id: u32): i32 {
  return table.delete(id) ? 1 : 0;
}

export function size(): i32 {
  return table.size;
}
