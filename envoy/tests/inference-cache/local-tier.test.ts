// inference-cache's local tier in a real Envoy, beyond the case table: a hit never reaches the
// upstream, a streamed miss reaches the client chunk by chunk (and replays as the same events),
// the table stays within its slots, bad bodies are bypassed without a trap, how the cache's
// max_body_bytes meets Envoy's buffer limit, and the metrics in Envoy's /stats.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, h2cRequest, http1Request, printEnvoyLogsOnFailure, type Envoy, type HttpRequest } from "../../harness";
import { CACHE_CONFIG, CHAT_PATH, chat } from "../../../host-tests/inference-cache/cases";
import { sseEvents } from "../../../host-tests/inference-cache/upstream";
import { chatRequest, startCacheEnvoy, startModelServer, streamRequest, wasmFailureStats, wasmFailures, type ModelServerHandle } from "./envoy";

printEnvoyLogsOnFailure();

let server: ModelServerHandle;

beforeAllOrFailEach(async () => {
  server = await startModelServer();
});

afterAll(async () => {
  closeHttp1Connections();
  await server?.close();
});

/** Sends `req` and says whether it reached the model server. */
async function send(envoy: Envoy, req: HttpRequest) {
  const before = server.model.count;
  const res = await http1Request(envoy.listenerUrl, req);
  return { ...res, cache: res.headers["x-ai-cache"], reason: res.headers["x-ai-cache-reason"], reachedUpstream: server.model.count > before };
}

/** Splits `body` into HTTP/1.1 chunks (no content-length: the filter learns the size as it buffers). */
function chunked(body: string, size = 65536): HttpRequest {
  const chunks: string[] = [];
  for (let i = 0; i < body.length; i += size) chunks.push(body.slice(i, i + size));
  return { method: "POST", path: CHAT_PATH, headers: { "content-type": "application/json" }, chunks, chunkGapMs: 1 };
}

/**
 * A JSON answer whose chunked body ends with trailers (the model server adds them on
 * x-test-trailers, the route keeps them): Envoy's last body callback has no end of stream there,
 * the trailers end the response. Over h2c, which carries trailers to the client as they are.
 */
async function expectTrailedAnswerStored(envoy: Envoy, content: string): Promise<void> {
  const req = chatRequest(content, {}, { "x-test-trailers": "1" });
  const stores = (await envoy.stat("wasmcustom.inference_cache.stores.tier=local")) ?? 0;
  const before = server.model.count;
  const first = await h2cRequest(envoy.listenerUrl, req);
  expect([first.status, first.headers["x-ai-cache"], first.trailers]).toEqual([200, "MISS", { "x-checksum": "1" }]);
  expect(server.model.count).toBe(before + 1);
  expect(await envoy.stat("wasmcustom.inference_cache.stores.tier=local")).toBe(stores + 1);
  const again = await h2cRequest(envoy.listenerUrl, req);
  expect([again.status, again.headers["x-ai-cache-reason"], again.text]).toEqual([200, "local-hit", first.text]);
  expect(server.model.count).toBe(before + 1);
  await expectNoWasmFailure(envoy);
}

async function expectNoWasmFailure(envoy: Envoy): Promise<void> {
  expect(wasmFailures(envoy.logs())).toEqual([]);
  expect(await wasmFailureStats(envoy)).toEqual({});
}

describe("inference-cache local tier through Envoy", () => {
  describe("in the pipeline", () => {
    let envoy: Envoy;

    beforeAll(async () => {
      envoy = await startCacheEnvoy({ form: "pipeline", cacheConfig: CACHE_CONFIG, modelServerPort: server.port, name: "inference-cache-local" });
    });

    afterAll(async () => {
      await envoy?.stop();
    });

    it("answers the second identical deterministic request itself: the upstream sees it once", async () => {
      const first = await send(envoy, chatRequest("local: once"));
      expect([first.status, first.cache, first.reason, first.reachedUpstream]).toEqual([200, "MISS", "not-found", true]);
      const count = server.model.count;
      const second = await send(envoy, chatRequest("local: once"));
      expect([second.status, second.cache, second.reason, second.reachedUpstream]).toEqual([200, "HIT", "local-hit", false]);
      expect(second.text).toBe(first.text);
      expect(server.model.count).toBe(count);
    });

    it("passes a streamed miss on chunk by chunk, and replays it as the same events", async () => {
      let release!: () => void;
      server.holdLastChunk = new Promise<void>((r) => (release = r));
      let body: string;
      try {
        const res = await streamRequest(envoy.listenerUrl, chatRequest("local: stream", { stream: true }));
        expect([res.status, res.headers["x-ai-cache"], res.headers["x-ai-cache-reason"]]).toEqual([200, "MISS", "not-found"]);
        expect(res.headers["content-type"]).toMatch(/^text\/event-stream/);
        // The first event is here while the server still holds its last chunk.
        await res.until((b) => b.includes("\n\n"));
        expect(server.progress.lastSent).toBe(false);
        expect(sseEvents(res.text()).length).toBeGreaterThanOrEqual(1);
        release();
        body = await res.done;
      } finally {
        server.holdLastChunk = null;
        release();
      }
      const events = sseEvents(body);
      expect(events.at(-1)).toBe("[DONE]");
      expect(events.length).toBeGreaterThan(3);
      const replay = await send(envoy, chatRequest("local: stream", { stream: true }));
      expect([replay.cache, replay.reason, replay.reachedUpstream]).toEqual(["HIT", "local-hit", false]);
      expect(replay.headers["content-type"]).toMatch(/^text\/event-stream/);
      expect(sseEvents(replay.text)).toEqual(events);
    });

    it("stores a JSON answer that ends with trailers", async () => {
      await expectTrailedAnswerStored(envoy, "local: trailers, pipeline");
    });

    it("reports hits, misses and stores in Envoy's stats, the labels as tags", async () => {
      const stats = await envoy.stats("^wasmcustom\\.inference_cache\\.");
      expect(stats.get("wasmcustom.inference_cache.hits.tier=local")).toBeGreaterThanOrEqual(2);
      expect(stats.get("wasmcustom.inference_cache.misses")).toBeGreaterThanOrEqual(2);
      expect(stats.get("wasmcustom.inference_cache.stores.tier=local")).toBeGreaterThanOrEqual(2);
      expect(stats.get("wasmcustom.inference_cache.stored_bytes")).toBeGreaterThan(0);
      expect(stats.get("wasmcustom.inference_cache.hits.tier=shared")).toBe(0);
      const prometheus = await (await fetch(`${envoy.adminUrl}/stats/prometheus`)).text();
      // Prometheus drops the custom-stats namespace (wasmcustom) and shows the labels as tags.
      expect(prometheus).toMatch(/^inference_cache_hits\{tier="local"\} [1-9]/m);
      expect(prometheus).toMatch(/^inference_cache_bypasses\{reason="nondeterministic"\} 0$/m);
      await expectNoWasmFailure(envoy);
    });
  });

  describe("alone, with 4 slots and max_body_bytes below Envoy's buffer limit", () => {
    let envoy: Envoy;
    const MAX_BODY = 256 * 1024;

    beforeAll(async () => {
      envoy = await startCacheEnvoy({ form: "alone", cacheConfig: { ...CACHE_CONFIG, slots: 4, max_body_bytes: MAX_BODY }, modelServerPort: server.port, name: "inference-cache-bounded" });
    });

    afterAll(async () => {
      await envoy?.stop();
    });

    it("keeps at most `slots` entries however many it stores", async () => {
      const N = 40;
      for (let i = 0; i < N; i++) {
        const res = await send(envoy, chatRequest(`bounded ${i}`));
        expect([res.status, res.cache]).toEqual([200, "MISS"]);
      }
      expect(await envoy.stat("wasmcustom.inference_cache.stores.tier=local")).toBe(N);
      expect(await envoy.stat("wasmcustom.inference_cache.evictions")).toBeGreaterThanOrEqual(N - 4);
      // Newest first, the first request of each slot finds that slot's last entry; the rest
      // miss. So the hits count the entries the table still holds.
      let hits = 0;
      for (let i = N - 1; i >= 0; i--) {
        const res = await send(envoy, chatRequest(`bounded ${i}`));
        expect(res.status).toBe(200);
        if (res.cache === "HIT") hits++;
        else expect(res.reason).toBe("slot-collision");
      }
      expect(hits).toBeGreaterThanOrEqual(1);
      expect(hits).toBeLessThanOrEqual(4);
    });

    const hugeBody = JSON.stringify({ model: "llama", temperature: 0, messages: [{ role: "user", content: "x".repeat(2 << 20) }] });
    it.each([
      ["malformed JSON", { body: '{"model":"llama","temperature":0,' }, "malformed-json"],
      ["invalid UTF-8", { body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]) }, "malformed-json"],
      ["5000 levels of nesting", { body: "[".repeat(5000) + "]".repeat(5000) }, "json-too-deep"],
      ["a 2 MiB body with content-length", { body: hugeBody }, "body-too-large"],
      ["a 2 MiB chunked body", chunked(hugeBody), "body-too-large"],
      ["a chunked body nested 100,000 deep", chunked(`{"model":"llama","temperature":0,"x":${"[".repeat(100_000)}${"]".repeat(100_000)}}`), "json-too-deep"],
    ] as [string, Partial<HttpRequest>, string][])("bypasses %s with its reason, and the request still goes through", async (_name, init, reason) => {
      const res = await send(envoy, { method: "POST", path: CHAT_PATH, headers: { "content-type": "application/json" }, ...init });
      expect([res.status, res.cache, res.reason, res.reachedUpstream]).toEqual([200, "BYPASS", reason, true]);
      expect(res.headers["x-ai-cache-key"]).toBeUndefined();
    });

    it("has not trapped, and still answers", async () => {
      const res = await send(envoy, chatRequest("bounded after bad input"));
      expect([res.status, res.cache]).toEqual([200, "MISS"]);
      const bypasses = await envoy.stats("^wasmcustom\\.inference_cache\\.bypasses\\.");
      expect(bypasses.get("wasmcustom.inference_cache.bypasses.reason=malformed-json")).toBe(2);
      expect(bypasses.get("wasmcustom.inference_cache.bypasses.reason=json-too-deep")).toBe(2);
      expect(bypasses.get("wasmcustom.inference_cache.bypasses.reason=body-too-large")).toBe(2);
      await expectNoWasmFailure(envoy);
    });

    it("stores a JSON answer that ends with trailers", async () => {
      await expectTrailedAnswerStored(envoy, "bounded: trailers, alone");
    });
  });

  // Envoy adds each chunk of a buffered body before the filter sees it, and answers 413 itself
  // once the buffer passes per_connection_buffer_limit_bytes (HTTP/1.1; 1 MiB by default). The
  // cache bypasses a body over max_body_bytes only if it sees it first: with content-length at
  // once, chunked only while the limit is above max_body_bytes plus a chunk.
  describe("with max_body_bytes equal to Envoy's buffer limit (1 MiB each)", () => {
    let envoy: Envoy;

    beforeAll(async () => {
      envoy = await startCacheEnvoy({ form: "alone", cacheConfig: CACHE_CONFIG, modelServerPort: server.port, name: "inference-cache-limit" });
    });

    afterAll(async () => {
      await envoy?.stop();
    });

    it("bypasses a larger body that says its length, and leaves a chunked one to Envoy's 413", async () => {
      const body = chat({ messages: [{ role: "user", content: "y".repeat((1 << 20) + 1) }] });
      const known = await send(envoy, { method: "POST", path: CHAT_PATH, headers: { "content-type": "application/json" }, body });
      expect([known.status, known.cache, known.reason, known.reachedUpstream]).toEqual([200, "BYPASS", "body-too-large", true]);
      const streamed = await send(envoy, chunked(body));
      expect([streamed.status, streamed.text, streamed.reachedUpstream]).toEqual([413, "Payload Too Large", false]);
      // The cache saw the body that went over (Envoy sends the 413 after the filter's callback).
      expect([streamed.cache, streamed.reason]).toEqual(["BYPASS", "body-too-large"]);
      await expectNoWasmFailure(envoy);
    });
  });
});
