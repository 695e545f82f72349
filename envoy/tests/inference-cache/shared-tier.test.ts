// inference-cache's shared tier through real Envoys: two Envoy processes (the pipeline form, each
// with the aigw_webdis cluster) in front of one Redis behind Webdis (envoy/harness/shared-store.ts).
// An entry stored through one is served by the other; the write outlives the stream that stored it;
// a stopped or hung Redis costs a miss, never a failed request, and the tier comes back with Redis.
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { addLogSource, closeHttp1Connections, http1Request, printEnvoyLogsOnFailure, startSharedStore, type Envoy, type HttpRequest, type SharedStore } from "../../harness";
import { CACHE_CONFIG } from "../../../host-tests/inference-cache/cases";
import { chatRequest, redisKeyOf, startCacheEnvoy, startModelServer, streamRequest, wasmFailureStats, wasmFailures, type ModelServerHandle } from "./envoy";

// Long enough that a read on a loaded CI machine (unit suites compile modules beside these tests
// on 2 cores) is not cut short: a cut-short read is a shared-tier-error where a test expects a
// hit or an expired record. The hung-Redis test measures this bound.
const TIMEOUT_MS = 1_000;
const SHARED = { ...CACHE_CONFIG, shared_tier: { cluster: "aigw_webdis", timeout_ms: TIMEOUT_MS } };
const STORES_SHARED = "wasmcustom.inference_cache.stores.tier=shared";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

printEnvoyLogsOnFailure();

let server: ModelServerHandle;
let store: SharedStore;
let a: Envoy;
let b: Envoy;

beforeAllOrFailEach(async () => {
  server = await startModelServer();
  store = await startSharedStore({ name: "inference-cache" });
  addLogSource("shared store", store.logs);
  const start = (name: string) => startCacheEnvoy({ form: "pipeline", cacheConfig: SHARED, modelServerPort: server.port, webdisPort: store.webdisPort, name });
  [a, b] = await Promise.all([start("inference-cache-shared-a"), start("inference-cache-shared-b")]);
});

afterAll(async () => {
  closeHttp1Connections();
  await Promise.all([a?.stop(), b?.stop()]);
  await store?.close();
  await server?.close();
});

async function send(envoy: Envoy, req: HttpRequest) {
  const before = server.model.count;
  const t0 = performance.now();
  const res = await http1Request(envoy.listenerUrl, req);
  return {
    ...res,
    cache: res.headers["x-ai-cache"],
    reason: res.headers["x-ai-cache-reason"],
    key: res.headers["x-ai-cache-key"],
    reachedUpstream: server.model.count > before,
    ms: performance.now() - t0,
  };
}

/** Polls Redis until `key` holds a value; returns it. */
async function redisValue(key: string, timeoutMs = 5_000): Promise<Buffer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await store.redis("GET", key);
    if (Buffer.isBuffer(value)) return value;
    if (Date.now() > deadline) throw new Error(`Redis has no ${key} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * Stores a new entry through A and asks B for it until B answers it from the shared tier (Webdis
 * reconnects to a restarted Redis within about 3 s; after a hang, Webdis 0.1.9 may still hand
 * late answers to other connections for a moment). Returns the attempts it took.
 */
async function sharedTierWorks(tag: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const req = chatRequest(`${tag} ${attempt}`);
    const stored = await send(a, req);
    expect(stored.status).toBe(200);
    if (stored.reason === "not-found") {
      await redisValue(redisKeyOf(stored.key!), 2_000).catch(() => null);
      const served = await send(b, req);
      expect(served.status).toBe(200);
      if (served.reason === "shared-hit") return attempt;
    }
    if (Date.now() > deadline) throw new Error(`the shared tier did not work again within ${timeoutMs} ms (last: ${stored.cache} ${stored.reason})`);
    await sleep(100);
  }
}

async function expectNoWasmFailure(): Promise<void> {
  for (const envoy of [a, b]) {
    expect(wasmFailures(envoy.logs())).toEqual([]);
    expect(await wasmFailureStats(envoy)).toEqual({});
  }
}

describe("inference-cache shared tier through two Envoys and one Redis", () => {
  it("serves an entry stored through one Envoy from the other, without asking the upstream again", async () => {
    const req = chatRequest("shared: across", {}, { authorization: "Bearer tenant-1" });
    const first = await send(a, req);
    expect([first.status, first.cache, first.reason, first.reachedUpstream]).toEqual([200, "MISS", "not-found", true]);
    const record = await redisValue(redisKeyOf(first.key!, "Bearer tenant-1"));
    expect(record.subarray(0, 4).toString()).toBe("AIGC");
    await a.waitForStat(STORES_SHARED, 1);

    const count = server.model.count;
    const second = await send(b, req);
    expect([second.status, second.cache, second.reason, second.reachedUpstream]).toEqual([200, "HIT", "shared-hit", false]);
    expect(second.text).toBe(first.text);
    expect(second.key).toBe(first.key);
    // The shared hit filled B's local tier.
    const third = await send(b, req);
    expect([third.cache, third.reason]).toEqual(["HIT", "local-hit"]);
    // Another tenant's request is another key: not served tenant-1's entry.
    const other = await send(b, chatRequest("shared: across", {}, { authorization: "Bearer tenant-2" }));
    expect([other.cache, other.reason, other.reachedUpstream]).toEqual(["MISS", "not-found", true]);
    expect(server.model.count).toBe(count + 1);
    expect(await b.stat("wasmcustom.inference_cache.hits.tier=shared")).toBe(1);
  });

  it("writes a streamed miss to Redis even when the client leaves right after data: [DONE]", async () => {
    const before = (await a.stat(STORES_SHARED)) ?? 0;
    // The server ends the reply (the terminating chunk) a while after [DONE]; the client does not wait.
    server.endDelayMs = 300;
    let key: string;
    try {
      const res = await streamRequest(a.listenerUrl, chatRequest("shared: leave after done", { stream: true }));
      expect([res.status, res.headers["x-ai-cache"], res.headers["x-ai-cache-reason"]]).toEqual([200, "MISS", "not-found"]);
      key = res.headers["x-ai-cache-key"];
      await res.until((body) => body.includes("data: [DONE]\n\n"));
      res.close();
    } finally {
      server.endDelayMs = 0;
    }
    const record = await redisValue(redisKeyOf(key));
    expect(record.subarray(0, 4).toString()).toBe("AIGC");
    expect(record.includes("text/event-stream")).toBe(true);
    await a.waitForStat(STORES_SHARED, before + 1);
    const replay = await send(b, chatRequest("shared: leave after done", { stream: true }));
    expect([replay.cache, replay.reason, replay.reachedUpstream]).toEqual(["HIT", "shared-hit", false]);
  });

  it("writes a small response to Redis after its stream has ended and the client has gone", async () => {
    const before = (await a.stat(STORES_SHARED)) ?? 0;
    const res = await streamRequest(a.listenerUrl, chatRequest("shared: tiny"));
    const body = await res.done;
    res.close();
    expect(JSON.parse(body).object).toBe("chat.completion");
    const record = await redisValue(redisKeyOf(res.headers["x-ai-cache-key"]));
    expect(record.subarray(0, 4).toString()).toBe("AIGC");
    await a.waitForStat(STORES_SHARED, before + 1);
  });

  it("serves a shared record no older than the reading Envoy's own ttl_ms", async () => {
    // C's operator lowered ttl_ms to 1 s; A still stores for 60 s.
    const c = await startCacheEnvoy({
      form: "pipeline", cacheConfig: { ...SHARED, ttl_ms: 1000 }, modelServerPort: server.port, webdisPort: store.webdisPort, name: "inference-cache-shared-c",
    });
    try {
      const req = chatRequest("shared: reader's ttl");
      const first = await send(a, req);
      expect([first.cache, first.reason]).toEqual(["MISS", "not-found"]);
      await redisValue(redisKeyOf(first.key!));
      await sleep(1_200);
      // B first, with A's ttl_ms: served A's record. (After C's miss, C writes its own record
      // with a 1 s lifetime, so B must read before that.)
      const fresh = await send(b, req);
      expect([fresh.cache, fresh.reason]).toEqual(["HIT", "shared-hit"]);
      // C: A's record is older than C's ttl_ms, so a miss, answered upstream.
      const late = await send(c, req);
      // On a failure, C's view of its Webdis calls says which kind of shared-tier error it was
      // (a timeout, a reset, another status).
      const calls = late.reason === "expired" ? "" : JSON.stringify(Object.fromEntries(await c.stats("^cluster\\.aigw_webdis\\.upstream_(rq|cx)_")));
      expect([late.status, late.cache, late.reason, late.reachedUpstream], calls).toEqual([200, "MISS", "expired", true]);
      expect(wasmFailures(c.logs())).toEqual([]);
    } finally {
      await c.stop();
    }
  });

  it("answers every request while Redis is down, as a miss with its reason, and uses the tier again once Redis is back", async () => {
    const readErrors = (await a.stat("wasmcustom.inference_cache.shared_errors.op=read")) ?? 0;
    await store.stopRedis();
    try {
      for (let i = 0; i < 5; i++) {
        const res = await send(a, chatRequest(`shared: redis down ${i}`));
        expect([res.status, res.cache, res.reason, res.reachedUpstream]).toEqual([200, "MISS", "shared-tier-error", true]);
        expect(JSON.parse(res.text).object).toBe("chat.completion");
      }
      // The local tier still answers.
      const again = await send(a, chatRequest("shared: redis down 0"));
      expect([again.status, again.cache, again.reason]).toEqual([200, "HIT", "local-hit"]);
      // B has neither tier for it: a miss, answered.
      const elsewhere = await send(b, chatRequest("shared: redis down 0"));
      expect([elsewhere.status, elsewhere.cache, elsewhere.reason]).toEqual([200, "MISS", "shared-tier-error"]);
      expect(await a.stat("wasmcustom.inference_cache.shared_errors.op=read")).toBe(readErrors + 5);
      await a.waitForStat("wasmcustom.inference_cache.shared_errors.op=write", 5);
    } finally {
      await store.startRedis();
    }
    await sharedTierWorks("shared: redis back");
  });

  it("answers within the timeout while Redis hangs, and uses the tier again once it answers", async () => {
    store.freezeRedis();
    try {
      for (let i = 0; i < 3; i++) {
        // Words whose keys fall in three different slots of the 4096 (as the test's local HIT
        // below needs: a slot holds one entry, and two of "redis hung 0..2" share one).
        const res = await send(a, chatRequest(`shared: redis frozen ${i}`));
        expect([res.status, res.cache, res.reason, res.reachedUpstream]).toEqual([200, "MISS", "shared-tier-error", true]);
        expect(res.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
        // Ended by the timeout, not hung until the client's own (10 s): 2 s of slack for a loaded machine.
        expect(res.ms).toBeLessThan(TIMEOUT_MS + 2_000);
      }
      const again = await send(a, chatRequest("shared: redis frozen 0"));
      expect([again.status, again.cache, again.reason]).toEqual([200, "HIT", "local-hit"]);
    } finally {
      store.thawRedis();
    }
    await sharedTierWorks("shared: redis thawed");
    expect(store.webdisExit()).toBeNull();
  });

  it("counts the shared tier in Envoy's stats, and has not trapped", async () => {
    const sa = await a.stats("^wasmcustom\\.inference_cache\\.");
    const sb = await b.stats("^wasmcustom\\.inference_cache\\.");
    expect(sa.get(STORES_SHARED)).toBeGreaterThanOrEqual(4);
    expect(sa.get("wasmcustom.inference_cache.shared_errors.op=read")).toBeGreaterThanOrEqual(8);
    expect(sb.get("wasmcustom.inference_cache.hits.tier=shared")).toBeGreaterThanOrEqual(4);
    expect(await a.stat("cluster.aigw_webdis.upstream_rq_200")).toBeGreaterThan(0);
    await expectNoWasmFailure();
  });
});
