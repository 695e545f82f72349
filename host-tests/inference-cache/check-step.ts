// Checks one step of a cache case against what the client and the upstream saw; both runners
// (emulator and Envoy) describe a response the same way and call this.
import { expect } from "vitest";
import type { CacheStep } from "./cases";
import { sseEvents } from "./upstream";

export interface SeenResponse {
  status: number;
  headers: Record<string, string | undefined>;
  body: string;
  /** The upstream answered this request. */
  reachedUpstream: boolean;
  /** x-ai-cache-key the upstream received ("" when none, or when the request did not reach it). */
  upstreamKey: string;
}

export function checkStep(label: string, step: CacheStep, seen: SeenResponse, history: SeenResponse[]): void {
  const e = step.expect;
  const h = seen.headers;
  const at = `${label}: ${JSON.stringify({ status: seen.status, cache: h["x-ai-cache"], reason: h["x-ai-cache-reason"], body: seen.body.slice(0, 200) })}`;
  if (e.status !== undefined) expect(seen.status, at).toBe(e.status);
  expect(h["x-ai-cache"], at).toBe(e.cache);
  expect(h["x-ai-cache-reason"], at).toBe(e.reason);
  expect(seen.reachedUpstream, at).toBe(e.upstream);
  const key = h["x-ai-cache-key"];
  if (e.key === true) {
    expect(key, at).toMatch(/^[0-9a-f]{64}$/);
    if (seen.reachedUpstream) expect(seen.upstreamKey, at).toBe(key);
  }
  if (e.key === false) {
    expect(key, at).toBeUndefined();
    if (seen.reachedUpstream) expect(seen.upstreamKey, at).toBe("");
  }
  if (e.sameKeyAs !== undefined) expect(key, at).toBe(history[e.sameKeyAs].headers["x-ai-cache-key"]);
  if (e.otherKeyThan !== undefined) expect(key, at).not.toBe(history[e.otherKeyThan].headers["x-ai-cache-key"]);
  if (e.sameBodyAs !== undefined) expect(seen.body, at).toBe(history[e.sameBodyAs].body);
  if (e.sameEventsAs !== undefined) expect(sseEvents(seen.body), at).toEqual(sseEvents(history[e.sameEventsAs].body));
  if (e.contentType === "sse") {
    expect(h["content-type"], at).toMatch(/^text\/event-stream/);
    expect(sseEvents(seen.body).at(-1), at).toBe("[DONE]");
  }
  if (e.contentType === "json") {
    expect(h["content-type"], at).toMatch(/^application\/json/);
    expect(JSON.parse(seen.body).object, at).toBe("chat.completion");
  }
  if (e.cache === "HIT") expect(Number(h.age), at).toBeGreaterThanOrEqual(e.minAge ?? 0);
  else expect(h.age, at).toBe(e.upstreamAge);
}
