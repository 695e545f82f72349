// What a case of ./cases.ts expects, asserted on one observation of it. The emulator and the
// Envoy runners observe differently (the emulator sees the request at its router; Envoy's
// answering upstream echoes it) and hand over the same shape, so both hold to the same checks.
import { expect } from "vitest";
import { isRefused, type RouterCase } from "./cases";

export interface Observed {
  status: number;
  /** Response headers the client received. */
  headers: Record<string, string | undefined>;
  /** Response body the client received. */
  body: string;
  /** What reached the upstream, or undefined when the request was answered before it. */
  upstream?: {
    /** The cluster that got it: the upstream that answered in Envoy, the x-ai-cluster route in the emulator. */
    cluster: string | undefined;
    headers: Record<string, string | undefined>;
    body: string;
  };
}

/** The stat that must grow by one with this case. */
export function caseStat(c: RouterCase): string {
  const want = c.expect;
  if (isRefused(want)) return `model_router.errors.kind=${want.kind}`;
  // Label values as metrics.ts writes them (metricLabel): other characters than these become `_`.
  const label = (v: string) => v.replace(/[^A-Za-z0-9_-]/g, "_");
  return `model_router.requests.model=${label(want.model)}.version=${label(want.version)}.source=${want.source}`;
}

export function checkCase(c: RouterCase, got: Observed): void {
  const want = c.expect;
  if (isRefused(want)) {
    expect(got.upstream, "the request must not reach an upstream").toBeUndefined();
    expect(got.status, got.body).toBe(want.status);
    expect(got.headers["content-type"]).toBe("application/json");
    const body = JSON.parse(got.body);
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error).toMatchObject({ code: want.code, type: want.type, param: want.param });
    expect(typeof body.error.message).toBe("string");
    if (typeof want.message === "string") expect(body.error.message).toBe(want.message);
    else if (want.message !== undefined) expect(body.error.message).toMatch(want.message);
    return;
  }
  expect(got.status, got.body).toBe(200);
  expect(got.upstream, "the request must reach an upstream").toBeDefined();
  const up = got.upstream!;
  expect(up.cluster).toBe(want.cluster);
  const route = { cluster: up.headers["x-ai-cluster"], model: up.headers["x-ai-model"], version: up.headers["x-ai-model-version"], tenant: up.headers["x-ai-tenant"] };
  expect(route).toMatchObject({ cluster: want.cluster, model: want.model, version: want.version, ...(want.tenant === undefined ? {} : { tenant: want.tenant }) });
  if (want.aiHeaders !== undefined) {
    const ai = Object.fromEntries(Object.entries(up.headers).filter(([name]) => name.startsWith("x-ai-")));
    expect(ai).toEqual(want.aiHeaders);
  }
  if (want.upstreamBody !== undefined) expect(up.body).toBe(want.upstreamBody);
  if (want.upstreamContentLength !== undefined) expect(up.headers["content-length"]).toBe(want.upstreamContentLength ?? undefined);
}
