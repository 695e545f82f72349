// Cost of one no-op request cycle through build/noop.wasm in the emulator (context_create,
// request headers, response headers, log, done, delete), printed for the record. Nothing is
// asserted about time: machines differ; the number is for comparing changes on one machine.
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Host } from "./emulator";

const NOOP = path.resolve(__dirname, "..", "build", "noop.wasm");
const CYCLES = 20_000;
const WARMUP = 2_000;

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

describe("emulator cost", () => {
  it(`measures a no-op request cycle (median of ${CYCLES})`, async () => {
    const host = new Host();
    const plugin = (await host.loadVm(NOOP)).startPlugin({ rootId: "noop", configuration: "{}" });

    const viaRequest: number[] = [];
    for (let i = 0; i < WARMUP + CYCLES; i++) {
      const start = performance.now();
      await plugin.request();
      if (i >= WARMUP) viaRequest.push(performance.now() - start);
    }

    const viaStream: number[] = [];
    for (let i = 0; i < WARMUP + CYCLES; i++) {
      const start = performance.now();
      const stream = plugin.newStream();
      stream.requestHeaders({}, { endOfStream: true });
      stream.responseHeaders({ ":status": "200" }, { endOfStream: true });
      if (i >= WARMUP) viaStream.push(performance.now() - start);
    }

    const us = (ms: number) => (ms * 1000).toFixed(1);
    console.log(
      `no-op request cycle through build/noop.wasm: plugin.request() median ${us(median(viaRequest))} µs, ` +
        `step-by-step stream median ${us(median(viaStream))} µs (${CYCLES} cycles each)`,
    );
    expect(host.metric("noop.requests_total")).toBe(2 * (WARMUP + CYCLES));
    expect(plugin.vm.liveContexts).toBe(1);
  }, 120_000);
});
