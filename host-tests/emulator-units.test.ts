// The emulator's pure parts, checked against the rules they copy from Envoy and proxy-wasm-cpp-host.
import { describe, expect, it } from "vitest";
import { BodyBuffer } from "./emulator/buffer";
import { FakeClock } from "./emulator/clock";
import { HeaderMap } from "./emulator/header-map";
import { MetricStore, VmMetrics } from "./emulator/metrics";
import { decodePairs, encodePairs } from "./emulator/pairs";
import { SharedDataStore } from "./emulator/shared-data";
import { SharedQueues } from "./emulator/shared-queue";
import { WasmResult, fromUtf8, utf8 } from "./emulator/types";

describe("emulator pairs", () => {
  it("lays pairs out as cpp-host does: count, all lengths, then NUL-terminated names and values", () => {
    const bytes = encodePairs([[":path", "/a"], ["x", ""]]);
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(2);
    expect([view.getUint32(4, true), view.getUint32(8, true), view.getUint32(12, true), view.getUint32(16, true)]).toEqual([5, 2, 1, 0]);
    expect(fromUtf8(bytes.subarray(20))).toBe(":path\0/a\0x\0\0");
  });

  it("decodes what it encodes, including UTF-8", () => {
    const pairs: Array<[string, string]> = [["content-type", "application/json"], ["x-name", "héllo"]];
    expect(decodePairs(encodePairs(pairs))).toEqual(pairs);
  });

  it.each([
    ["too short", new Uint8Array(3)],
    ["a count beyond the data", encodePairs([["a", "b"]]).subarray(0, 10)],
    ["a missing NUL", (() => { const b = encodePairs([["a", "b"]]); b[b.length - 1] = 1; return b; })()],
    ["trailing bytes", new Uint8Array([...encodePairs([["a", "b"]]), 0])],
  ])("yields an empty list for %s", (_name, bytes) => {
    expect(decodePairs(bytes)).toEqual([]);
  });
});

describe("emulator body buffer", () => {
  const cases: Array<[string, number, number, string, number]> = [
    ["replaces the front (start 0, length n: drain n, prepend)", 0, 3, "XYdef", WasmResult.Ok],
    ["replaces everything (length >= size)", 0, 99, "XY", WasmResult.Ok],
    ["prepends (start 0, length 0)", 0, 0, "XYabcdef", WasmResult.Ok],
    ["appends (start = size)", 6, 0, "abcdefXY", WasmResult.Ok],
    ["appends (start > size)", 60, 5, "abcdefXY", WasmResult.Ok],
    ["refuses a write in the middle", 2, 1, "abcdef", WasmResult.BadArgument],
  ];
  it.each(cases)("copyFrom %s", (_name, start, length, expected, status) => {
    const buffer = new BodyBuffer(utf8("abcdef"));
    expect(buffer.copyFrom(start, length, utf8("XY"))).toBe(status);
    expect(fromUtf8(buffer.bytes())).toBe(expected);
  });

  it("moves data from another buffer and empties it", () => {
    const a = new BodyBuffer(utf8("ab"));
    const b = new BodyBuffer(utf8("cd"));
    a.moveFrom(b);
    expect([fromUtf8(a.bytes()), b.length]).toEqual(["abcd", 0]);
  });
});

describe("emulator header map", () => {
  it("keeps pseudo-headers first, lower-cases names and returns the first value", () => {
    const map = new HeaderMap([["X-A", "1"], [":path", "/"], ["x-a", "2"]]);
    expect(map.pairs()).toEqual([[":path", "/"], ["x-a", "1"], ["x-a", "2"]]);
    expect(map.get("X-A")).toBe("1");
  });

  it("replaces every value with one, at the end (setCopy)", () => {
    const map = new HeaderMap([["x-a", "1"], ["b", "2"], ["x-a", "3"]]);
    map.set("x-a", "9");
    expect(map.pairs()).toEqual([["b", "2"], ["x-a", "9"]]);
  });

  it("reports byte size as Envoy's byteSize (names plus values)", () => {
    expect(new HeaderMap([[":path", "/ab"], ["x", "yz"]]).byteSize()).toBe(5 + 3 + 1 + 2);
  });
});

describe("emulator metrics ids", () => {
  it("numbers ids like cpp-host: type in the low two bits, steps of 4, pre-incremented", () => {
    const vm = new VmMetrics(new MetricStore());
    expect([vm.define(0, "c").id, vm.define(1, "g").id, vm.define(2, "h").id, vm.define(0, "c2").id]).toEqual([4, 5, 6, 8]);
    expect(vm.define(3, "bad").result).toBe(WasmResult.BadArgument);
  });

  it("shares one stat between VMs that define the same name", () => {
    const store = new MetricStore();
    const a = new VmMetrics(store);
    const b = new VmMetrics(store);
    a.increment(a.define(0, "n").id, 2n);
    b.increment(b.define(0, "n").id, 3n);
    expect(store.find("wasmcustom.n")?.value).toBe(5n);
  });
});

describe("emulator shared data", () => {
  it("applies cpp-host's CAS rules", () => {
    const store = new SharedDataStore();
    expect(store.set("vm", "k", utf8("a"), 777)).toBe(WasmResult.Ok); // creating ignores the CAS
    const first = store.get("vm", "k")!;
    expect(first.cas).toBe(1);
    expect(store.set("vm", "k", utf8("b"), first.cas + 1)).toBe(WasmResult.CasMismatch);
    expect(store.set("vm", "k", utf8("b"), first.cas)).toBe(WasmResult.Ok);
    expect(store.set("vm", "k", utf8("c"), first.cas)).toBe(WasmResult.CasMismatch);
    expect(store.set("vm", "k", utf8("d"), 0)).toBe(WasmResult.Ok);
    expect(store.get("vm", "k")!.cas).toBe(3);
    expect(store.get("other", "k")).toBeUndefined();
  });

  it("injects a conflict into the next conditional guest write only", () => {
    const store = new SharedDataStore();
    store.set("", "k", utf8("a"), 0);
    store.inject({ key: "k" });
    const cas = store.get("", "k")!.cas;
    expect(store.guestSet("", "k", utf8("mine"), cas)).toBe(WasmResult.CasMismatch);
    const fresh = store.get("", "k")!;
    expect(fromUtf8(fresh.bytes)).toBe("a");
    expect(store.guestSet("", "k", utf8("mine"), fresh.cas)).toBe(WasmResult.Ok);
  });
});

describe("emulator shared queues", () => {
  it("gives the queue to the last registrant, keeps items and posts readiness", () => {
    const posted: Array<() => void> = [];
    const queues = new SharedQueues((_label, fn) => posted.push(fn));
    const seen: string[] = [];
    const first = { queueReady: (root: number) => seen.push(`first:${root}`) };
    const second = { queueReady: (root: number) => seen.push(`second:${root}`) };
    const token = queues.register("vm", "q", first, 1);
    expect(queues.enqueue(token, utf8("x"))).toBe(WasmResult.Ok);
    expect(queues.register("vm", "q", second, 7)).toBe(token);
    expect(queues.enqueue(token, utf8("y"))).toBe(WasmResult.Ok);
    expect(seen).toEqual([]);
    posted.forEach((fn) => fn());
    // The notice goes to whoever was registered when the item was enqueued (shared_queue.cc).
    expect(seen).toEqual(["first:1", "second:7"]);
    expect(queues.dequeue(token).result).toBe(WasmResult.Ok);
    expect(queues.dequeue(token).result).toBe(WasmResult.Ok);
    expect(queues.dequeue(token).result).toBe(WasmResult.Empty);
    expect(queues.dequeue(token + 1).result).toBe(WasmResult.NotFound);
    expect(queues.resolve("vm", "nope")).toBe(0);
  });
});

describe("emulator fake clock", () => {
  it("fires timers in due order at their own time", () => {
    const clock = new FakeClock(1000);
    const fired: string[] = [];
    clock.schedule(50, "b", () => fired.push(`b@${clock.nowMs()}`));
    clock.schedule(10, "a", () => {
      fired.push(`a@${clock.nowMs()}`);
      clock.schedule(0, "a2", () => fired.push(`a2@${clock.nowMs()}`));
    });
    clock.schedule(500, "late", () => fired.push("late"));
    clock.advanceTo(1100);
    expect(fired).toEqual(["a@1010", "a2@1010", "b@1050"]);
    expect(clock.nowMs()).toBe(1100);
    expect(clock.monotonicNanos()).toBe(1_000_000_000n + 100_000_000n);
  });
});
