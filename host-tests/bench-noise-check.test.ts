// The timed bench's noise check (bench/report.ts, bench/README.md "Reading the table"): the
// variant that runs model-router's configuration again is that configuration exactly, and the
// check reports how far the two landed apart, or nothing when either was not measured above its
// floor. Part of the unit project (`npm test`).
import { describe, expect, it } from "vitest";
import { noiseCheck, noiseSentence, type VariantResult } from "../bench/report";
import { NOISE_PAIR, VARIANTS, selectVariants, variantConfig, type VariantContext } from "../bench/variants";

/** A result row with only what the check reads. */
function row(key: string, aboveFloor: number | null): VariantResult {
  const vsFloor = aboveFloor === null ? null : { floor: "body-floor", added_envoy_cpu_us_per_req: aboveFloor, added_envoy_cpu_us_per_req_rounds: { median: aboveFloor, min: aboveFloor - 3, max: aboveFloor + 3 } };
  return { key, vs_floor: vsFloor } as unknown as VariantResult;
}

describe("the bench's noise check", () => {
  it("runs model-router's exact configuration again, in an Envoy of its own", () => {
    const [first, again] = NOISE_PAIR.map((k) => VARIANTS.find((v) => v.key === k)!);
    const ctx = { rewriteBody: false, floors: {} } as unknown as VariantContext;
    for (const rewriteBody of [false, true]) {
      const c = { ...ctx, rewriteBody };
      expect(variantConfig(again, c, 10000)).toEqual(variantConfig(first, c, 10000));
    }
    expect([again.floor, again.route, again.counters, again.perRequest]).toEqual([first.floor, first.route, first.counters, first.perRequest]);
    expect(again.label).not.toBe(first.label);
    // A full run has both; a run of model-router alone does not add the second.
    expect(selectVariants(null).variants.map((v) => v.key)).toEqual(expect.arrayContaining([...NOISE_PAIR]));
    expect(selectVariants(["model-router"]).variants.map((v) => v.key)).not.toContain("model-router-again");
  });

  it("reports how far apart the two landed above their floor, and nothing without both", () => {
    const rows = [row("body-floor", null), row("model-router", 7.94), row("model-router-again", 9.42), row("pipeline", 4)];
    const n = noiseCheck(rows)!;
    expect(n).toEqual({ variants: NOISE_PAIR, above_floor_us: [7.9, 9.4], apart_us: 1.5 });
    expect(noiseSentence(n)).toContain("7.9 and 9.4 µs above their floor, 1.5 apart");
    expect(noiseCheck(rows.filter((r) => r.key !== "model-router-again"))).toBeNull();
    expect(noiseCheck([row("model-router", 8), row("model-router-again", null)])).toBeNull();
  });
});
