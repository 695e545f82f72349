// assembly/pipeline/ticks.ts (one root context's tick shared by its stage roots), through
// build/pure/ticks.wasm (host-tests/pure/ticks-entry.ts): the armed period is the shortest one
// wanted, the stage that wants it ticks every time, a longer period is counted out on the armed
// one, never late, against a host timer that fires early, and a clock that goes back restarts it.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadPure, PureModule } from "./pure/pure-module";

let mod: PureModule;
beforeAll(async () => {
  mod = await loadPure("ticks");
});
afterEach(() => {
  expect(mod.aborts).toEqual([]);
});

const reset = (a: number, b: number, c: number, now = 0) => mod.call("reset", a, b, c, BigInt(now));
const due = (i: number, now: number) => mod.call("due", i, BigInt(now)) === 1;

/** Which stage roots tick at each of `times` (ms). */
function ticking(times: number[]): number[][] {
  return times.map((t) => [0, 1, 2].filter((i) => due(i, t)));
}

describe("TickSchedule", () => {
  it("arms the shortest period wanted, none when no stage wants ticks", () => {
    reset(0, 0, 0);
    expect(mod.call("armed")).toBe(0);
    expect(ticking([100, 200])).toEqual([[], []]);
    reset(1000, 0, 250);
    expect(mod.call("armed")).toBe(250);
    reset(500, 500, 0);
    expect(mod.call("armed")).toBe(500);
    expect(mod.call("needsClock")).toBe(0);
  });

  it("ticks the shortest every time and a longer one once its period has passed", () => {
    reset(100, 1000, 0, 5000);
    expect(mod.call("needsClock")).toBe(1);
    const times = Array.from({ length: 25 }, (_, i) => 5000 + 100 * (i + 1));
    const got = ticking(times);
    expect(got.every((stages) => stages.includes(0))).toBe(true);
    const longer = times.filter((_, i) => got[i].includes(1));
    expect(longer).toEqual([6000, 7000]);
  });

  it("does not let a timer that fires a little early cost the longer period a whole extra tick", () => {
    reset(100, 1000, 0, 0);
    // The host fires each tick 2 ms early: the tenth comes at 980 ms.
    const times = Array.from({ length: 20 }, (_, i) => 98 * (i + 1));
    const longer = times.filter((t) => ticking([t])[0].includes(1));
    expect(longer).toEqual([980, 1960]);
  });

  it("never lets a longer period that the armed one does not divide run late: it ticks early instead", () => {
    // 600 and 1000: waiting for the tick at 1200 would be 200 ms late, so the one at 600 serves.
    reset(600, 1000, 0, 0);
    expect(ticking([600, 1200, 1800]).map((stages) => stages.includes(1))).toEqual([true, true, true]);
    // 300 and 1000: the tick at 900 is the last before 1000 passes; then 1800 after 900.
    reset(300, 1000, 0, 0);
    const times = Array.from({ length: 7 }, (_, i) => 300 * (i + 1));
    expect(times.filter((t) => ticking([t])[0].includes(1))).toEqual([900, 1800]);
  });

  it("restarts a longer period's wait when the clock goes back", () => {
    reset(100, 300, 0, 10_000);
    expect(due(1, 10_300)).toBe(true);
    expect(due(1, 9_000)).toBe(false);
    expect(due(1, 9_200)).toBe(false);
    expect(due(1, 9_300)).toBe(true);
  });

  it("answers false for stage roots it does not know", () => {
    reset(100, 0, 0);
    expect(due(-1, 0)).toBe(false);
    expect(due(3, 0)).toBe(false);
  });
});
