// Test entry for assembly/pipeline/ticks.ts: one schedule, built from the periods the test gives.
import { TickSchedule } from "../../assembly/pipeline/ticks";

export { alloc, byteLength, release } from "./io";

let schedule = new TickSchedule([], 0);

/** Starts over with stage roots wanting `a`, `b`, `c` ms (0: none), armed at `nowMs`. */
export function reset(a: u32, b: u32, c: u32, nowMs: u64): void {
  schedule = new TickSchedule([a, b, c], nowMs);
}

export function armed(): u32 {
  return schedule.armed;
}

export function needsClock(): i32 {
  return schedule.needsClock ? 1 : 0;
}

export function due(i: i32, nowMs: u64): i32 {
  return schedule.due(i, nowMs) ? 1 : 0;
}
