// Checks one step of a token-bucket case against what the client, the upstream and the filter
// state showed; every runner (emulator, Envoy) describes a response the same way and calls this.
import { expect } from "vitest";
import type { Dims, TokenBucketStep } from "./cases";

export interface SeenResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
  /** The upstream answered this request. */
  reachedUpstream: boolean;
  /** wasm.llm_tokens as the filter state held it at the end (undefined when never set). */
  llmTokens: string | undefined;
}

const DIMS = ["requests", "tokens"] as const;

/** Milliseconds of a Go duration ("1h2m3.5s", "20ms", "0s"); NaN for anything else. */
export function parseGoDuration(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$|^(\d+)ms$/.exec(text);
  if (m === null || text.length === 0) return NaN;
  if (m[4] !== undefined) return Number(m[4]);
  return (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0)) * 1000;
}

export function checkStep(label: string, step: TokenBucketStep, seen: SeenResponse): void {
  const e = step.expect;
  const h = seen.headers;
  const at = `${label}: ${JSON.stringify({ status: seen.status, headers: Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith("x-ratelimit") || k === "retry-after")), llm: seen.llmTokens, body: seen.body.slice(0, 300) })}`;
  expect(seen.status, at).toBe(e.status);
  expect(seen.reachedUpstream, at).toBe(e.upstream);
  if (e.error !== undefined) {
    expect(h["content-type"], at).toMatch(/^application\/json/);
    const doc = JSON.parse(seen.body) as { error: Record<string, unknown> };
    expect(Object.keys(doc.error), at).toEqual(["message", "type", "param", "code"]);
    expect(doc.error.type, at).toBe(e.error.type);
    expect(doc.error.code, at).toBe(e.error.code);
    if (e.error.param !== undefined) expect(doc.error.param, at).toBe(e.error.param);
    expect(typeof doc.error.message, at).toBe("string");
    if (e.messageIncludes !== undefined) expect(doc.error.message, at).toContain(e.messageIncludes);
  }
  const dims = (prefix: string, want: Dims<number> | undefined) => {
    if (want === undefined) return;
    for (const d of DIMS) {
      const v = want[d];
      if (v === undefined) continue;
      const got = h[`${prefix}-${d}`];
      if (v === null) expect(got, `${at} ${prefix}-${d}`).toBeUndefined();
      else expect(got, `${at} ${prefix}-${d}`).toBe(String(v));
    }
  };
  dims("x-ratelimit-limit", e.limit);
  dims("x-ratelimit-remaining", e.remaining);
  if (e.resetMs !== undefined) {
    for (const d of DIMS) {
      const range = e.resetMs[d];
      if (range === undefined) continue;
      const got = h[`x-ratelimit-reset-${d}`];
      if (range === null) {
        expect(got, at).toBeUndefined();
        continue;
      }
      const ms = parseGoDuration(got ?? "");
      expect(ms, `${at} x-ratelimit-reset-${d}=${got}`).toBeGreaterThanOrEqual(range[0]);
      expect(ms, `${at} x-ratelimit-reset-${d}=${got}`).toBeLessThanOrEqual(range[1]);
    }
  }
  // Every header present is well-formed.
  for (const d of DIMS) {
    const reset = h[`x-ratelimit-reset-${d}`];
    if (reset !== undefined) expect(parseGoDuration(reset), at).not.toBeNaN();
    for (const p of ["limit", "remaining"]) {
      const v = h[`x-ratelimit-${p}-${d}`];
      if (v !== undefined) expect(v, at).toMatch(/^\d+$/);
    }
  }
  if (e.noHeaders) {
    expect(Object.keys(h).filter((k) => k.startsWith("x-ratelimit-")), at).toEqual([]);
  }
  if (e.retryAfter === null) expect(h["retry-after"], at).toBeUndefined();
  else if (e.retryAfter !== undefined) {
    const s = Number(h["retry-after"]);
    expect(s, at).toBeGreaterThanOrEqual(e.retryAfter[0]);
    expect(s, at).toBeLessThanOrEqual(e.retryAfter[1]);
  }
  if (e.llmTokens !== undefined) expect(seen.llmTokens, at).toBe(String(e.llmTokens));
  if (e.upstreamMaxTokens !== undefined) expect(h["x-upstream-max-tokens"], at).toBe(String(e.upstreamMaxTokens));
  if (e.upstreamMaxOutputTokens !== undefined) expect(h["x-upstream-max-output-tokens"], at).toBe(String(e.upstreamMaxOutputTokens));
  if (e.cacheControl === null) expect(h["cache-control"], at).toBeUndefined();
  else if (e.cacheControl !== undefined) expect(h["cache-control"], at).toBe(e.cacheControl);
  if (e.contentType === "sse") expect(h["content-type"], at).toMatch(/^text\/event-stream/);
  if (e.contentType === "json") expect(h["content-type"], at).toMatch(/^application\/json/);
}
