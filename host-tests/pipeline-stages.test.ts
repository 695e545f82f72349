// The pipeline with several stages, through a test module (host-tests/fixtures/pipeline-probe):
// the real model-router followed by two probe stages that report what they saw. Shows the
// contract later filters rely on: chain order, what earlier stages resolved on the Exchange, one
// body read and one parse shared by every stage, a later stage asking for a body the router did
// not need, a body too large for one stage passed on to the next, response hooks in reverse
// order for the stages that ran, and a local reply that ends the chain.
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { Host, type RequestInit } from "./emulator";
import { buildProbe, PROBE_WASM, startProbePipeline } from "./fixtures/pipeline-probe-host";

const WASM = PROBE_WASM;
const ROUTER = { models: { llama: { versions: { v1: { cluster: "llama-v1" } } } } };
const JSON_CT = { "content-type": "application/json" };
const chat = JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }] });

beforeAll(async () => {
  await buildProbe();
}, 300_000);

async function pipeline(config: object) {
  return (await startProbePipeline(config)).plugin;
}

const probe = (headers: Record<string, string> | undefined) => (headers?.["x-probe"] ?? "").split(";");

describe("pipeline with several stages", () => {
  describe("request", () => {
    it("runs the stages in chain order, later ones seeing what the router resolved", async () => {
      const plugin = await pipeline({ probe_b: {}, model_router: ROUTER, probe_a: {} });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, body: chat });
      expect(res.status).toBe(200);
      expect(probe(res.upstreamRequest?.headers)).toEqual(["probe_a:headers model=llama version=v1", "probe_b:headers model=llama version=v1"]);
    });

    it("reads and parses the body once for every stage that needs it", async () => {
      const plugin = await pipeline({ model_router: ROUTER, probe_a: { need_body: true }, probe_b: { need_body: true } });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, bodyChunks: [chat.slice(0, 7), chat.slice(7)] });
      expect(probe(res.upstreamRequest?.headers)).toEqual([
        "probe_a:headers model=llama version=v1", `probe_a:body ${chat.length} members=2 parses=1`,
        "probe_b:headers model=llama version=v1", `probe_b:body ${chat.length} members=2 parses=1`,
      ]);
      expect(res.upstreamRequest?.body).toBe(chat);
    });

    it("buffers a body for a later stage when the router routed by a header", async () => {
      const plugin = await pipeline({ model_router: ROUTER, probe_a: { need_body: true } });
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, bodyChunks: ['{"a":', "1}"] });
      expect(probe(res.upstreamRequest?.headers)).toEqual(["probe_a:headers model=llama version=v1", "probe_a:body 7 members=1 parses=1"]);
      expect(res.upstreamRequest?.body).toBe('{"a":1}');
    });

    it("passes a body too large for one stage on to the next, at the end of the stream too", async () => {
      const plugin = await pipeline({ model_router: ROUTER, probe_a: { need_body: true, max_body_bytes: 10, on_too_large: "continue" }, probe_b: { need_body: true } });
      for (const init of [
        { method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, bodyChunks: ['{"pad":"', "x".repeat(20), '"}'] },
        { method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, body: '{"pad":"' + "x".repeat(20) + '"}' },
        { method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, bodyChunks: ['{"pad":"', "x".repeat(20), '"}'], trailers: { "x-t": "1" } },
      ] as RequestInit[]) {
        const res = await plugin.request(init);
        expect(res.stalled, JSON.stringify(res.actions)).toBeFalsy();
        expect(res.status).toBe(200);
        const seen = probe(res.upstreamRequest?.headers);
        expect(seen[1]).toMatch(/^probe_a:too-large \d+$/);
        expect(seen.at(-1)).toBe("probe_b:body 30 members=1 parses=1");
      }
    });

    it("stops the chain at a stage's local reply", async () => {
      const plugin = await pipeline({ model_router: ROUTER, probe_a: { need_body: true, max_body_bytes: 10 }, probe_b: {} });
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, body: '{"pad":"' + "x".repeat(20) + '"}' });
      expect(res.status).toBe(413);
      expect(res.localResponse?.body).toBe("probe_a too large");
      expect(res.upstreamRequest).toBeUndefined();
    });
  });

  describe("identity", () => {
    const sha = (v: string) => createHash("sha256").update(v).digest("hex");
    const identities = (res: { upstreamRequest?: { headers: Record<string, string> } }) => probe(res.upstreamRequest?.headers).filter((p) => p.includes(":identity "));

    it("gives every stage the digest of the header it names, the one the router worked out included", async () => {
      // With a sticky split by tenant and no x-ai-* headers, the router hashes `authorization`
      // for the split alone; the probes ask for it (known) and for another header (new, and
      // never the router's digest).
      const plugin = await pipeline({
        model_router: { ...ROUTER, model_headers: false, sticky_key: "tenant", tenant_header: "authorization" },
        probe_a: { identity: "authorization" },
        probe_b: { identity: "x-api-key" },
      });
      for (const [auth, key] of [["Bearer sk-1", "k-1"], ["Bearer sk-2", "k-1"], ["Bearer sk-1", "k-2"]]) {
        const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, authorization: auth, "x-api-key": key }, body: chat });
        expect(res.status).toBe(200);
        expect(identities(res)).toEqual([`probe_a:identity authorization=${sha(auth)} known`, `probe_b:identity x-api-key=${sha(key)} new`]);
      }
      const res = await plugin.request({ method: "POST", headers: JSON_CT, body: chat });
      expect(identities(res)).toEqual(["probe_a:identity authorization= known", "probe_b:identity x-api-key= new"]);
    });

    it("is worked out by the first stage that needs it: a router that needs no tenant hashes nothing", async () => {
      // Split by a session header, no x-ai-* headers: nothing in the router needs the tenant.
      const plugin = await pipeline({
        model_router: { ...ROUTER, model_headers: false, sticky_key: "header", sticky_header: "x-session-id", tenant_header: "authorization" },
        probe_a: { identity: "authorization" },
        probe_b: { identity: "authorization" },
      });
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, authorization: "Bearer sk-1", "x-session-id": "s" }, body: chat });
      expect(identities(res)).toEqual([`probe_a:identity authorization=${sha("Bearer sk-1")} new`, `probe_b:identity authorization=${sha("Bearer sk-1")} known`]);
      // With x-ai-tenant to write, the router works it out first.
      const headers = await pipeline({ model_router: { ...ROUTER, tenant_header: "authorization" }, probe_a: { identity: "authorization" } });
      const res2 = await headers.request({ method: "POST", headers: { ...JSON_CT, authorization: "Bearer sk-1" }, body: chat });
      expect(identities(res2)).toEqual([`probe_a:identity authorization=${sha("Bearer sk-1")} known`]);
      expect(res2.upstreamRequest?.headers["x-ai-tenant"]).toBe(sha("Bearer sk-1").slice(0, 16));
    });

    it("is the digest of the header's value after a stage edited it", async () => {
      const plugin = await pipeline({
        model_router: { ...ROUTER, sticky_key: "tenant", tenant_header: "authorization" },
        probe_a: { identity: "authorization", edits: [["replace", "authorization", "Bearer changed"]] },
        probe_b: { identity: "authorization", edits: [["remove", "authorization"]] },
      });
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, authorization: "Bearer sk-1" }, body: chat });
      expect(identities(res)).toEqual([`probe_a:identity authorization=${sha("Bearer changed")} new`, "probe_b:identity authorization= new"]);
    });
  });

  describe("request headers", () => {
    it("lets later stages read the headers earlier stages wrote, as Envoy holds them, without reading the map after each write", async () => {
      const plugin = await pipeline({
        model_router: ROUTER,
        probe_a: { edits: [["add", "x-e", "1"], ["add", "x-f", "a"], ["replace", "x-f", "b"], ["add", "x-g", "z"], ["remove", "x-g"], ["remove", "x-absent"], ["replace", "x-h", "h1"]] },
        probe_b: { edits: [["read", "x-e"], ["read", "x-f"], ["read", "x-g"], ["add", "x-h", "h2"], ["read", "x-new"], ["add", "x-new", "n"]] },
      });
      const before = plugin.vm.hostCalls.get("proxy_get_header_map_pairs") ?? 0;
      const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-e": "0", "x-g": "client" }, body: chat });
      expect(res.status).toBe(200);
      const seen = probe(res.upstreamRequest?.headers).filter((p) => p.includes(":sees "));
      expect(seen).toEqual([
        // An added value leaves the first one first; replace leaves one value; remove leaves none.
        "probe_a:sees x-e=0", "probe_a:sees x-f=b", "probe_a:sees x-f=b", "probe_a:sees x-g absent", "probe_a:sees x-g absent",
        "probe_a:sees x-absent absent", "probe_a:sees x-h=h1",
        "probe_b:sees x-e=0", "probe_b:sees x-f=b", "probe_b:sees x-g absent", "probe_b:sees x-h=h1", "probe_b:sees x-new=n", "probe_b:sees x-new=n",
      ]);
      // What the stages read is what Envoy sends upstream.
      const up = res.upstreamRequest?.headers ?? {};
      expect(up["x-e"]?.split(",")[0]).toBe("0");
      expect(up["x-f"]).toBe("b");
      expect(up["x-g"]).toBeUndefined();
      expect(up["x-h"]?.split(",")[0]).toBe("h1");
      expect(up["x-new"]).toBe("n");
      // Reads of the maps: the request's by the router, and again after each of the two adds to a
      // header already there (x-e by probe_a, x-h by probe_b: Envoy joins the values of some
      // headers with a comma, which the view does not guess); every other write is recorded on the
      // view. The response's map once, though both probes write to it.
      expect((plugin.vm.hostCalls.get("proxy_get_header_map_pairs") ?? 0) - before).toBe(4);
      expect(res.response?.headers["x-probe-order"]).toBe("probe_b 200,probe_a 200");
    });
  });

  describe("pause", () => {
    async function pausing(config: object, reply: { status: number; body: string }) {
      const host = new Host();
      host.addCluster("side", () => ({ status: reply.status, body: reply.body, delayMs: 5 }));
      const plugin = (await host.loadVm(WASM, { vmId: "ai-gateway" })).startPlugin({ rootId: "ai-gateway", configuration: config, allowOnHeadersStopIteration: true });
      expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
      return { host, plugin };
    }

    it("holds the request while a stage waits for its call after the body, then goes on", async () => {
      const { host, plugin } = await pausing({ model_router: ROUTER, probe_a: { need_body: true, pause_at: "body", call_cluster: "side" }, probe_b: { need_body: true } }, { status: 200, body: "ok" });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, bodyChunks: [chat.slice(0, 9), chat.slice(9)] });
      expect(res.status).toBe(200);
      expect(probe(res.upstreamRequest?.headers)).toEqual([
        "probe_a:headers model=llama version=v1", `probe_a:body ${chat.length} members=2 parses=1`, "probe_a:paused at body", "probe_a:resumed 200 ok",
        "probe_b:headers model=llama version=v1", `probe_b:body ${chat.length} members=2 parses=1`,
      ]);
      expect(res.upstreamRequest?.body).toBe(chat);
      expect(host.httpCallLog.map((c) => c.outcome)).toEqual(["response"]);
    });

    it("keeps the body that arrives while a stage paused at the headers, for itself and later stages", async () => {
      const { plugin } = await pausing({ model_router: { ...ROUTER, sources: ["header"] }, probe_a: { pause_at: "headers", call_cluster: "side" }, probe_b: { need_body: true } }, { status: 200, body: "go" });
      for (const init of [
        { method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, bodyChunks: ['{"a":', "1}"] },
        { method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, bodyChunks: ['{"a":', "1}"], trailers: { "x-t": "1" } },
        { method: "POST", headers: { ...JSON_CT, "x-model": "llama" } },
      ] as RequestInit[]) {
        const res = await plugin.request(init);
        expect(res.stalled, JSON.stringify(res.actions)).toBeFalsy();
        expect(res.status).toBe(200);
        const hasBody = init.bodyChunks !== undefined;
        expect(probe(res.upstreamRequest?.headers)).toEqual([
          "probe_a:headers model=llama version=v1", "probe_a:paused at headers", "probe_a:resumed 200 go",
          "probe_b:headers model=llama version=v1", hasBody ? "probe_b:body 7 members=1 parses=1" : "probe_b:body 0 members=-1 parses=1",
        ]);
        expect(res.upstreamRequest?.body ?? "").toBe(hasBody ? '{"a":1}' : "");
      }
    });

    it("ends the chain when the paused stage answers instead", async () => {
      const { plugin } = await pausing({ model_router: ROUTER, probe_a: { need_body: true, pause_at: "body", call_cluster: "side" }, probe_b: {} }, { status: 503, body: "no" });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, body: chat });
      expect(res.status).toBe(503);
      expect(res.localResponse?.body).toBe("probe call 503");
      expect(res.upstreamRequest).toBeUndefined();
      expect(res.response?.headers["x-probe-order"]).toBe("probe_a(local) 503");
    });

    it("goes on at once when the call is refused (unknown cluster), without pausing", async () => {
      const { plugin } = await pausing({ model_router: ROUTER, probe_a: { need_body: true, pause_at: "body", call_cluster: "nowhere" } }, { status: 200, body: "" });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, body: chat });
      expect(res.status).toBe(200);
      expect(probe(res.upstreamRequest?.headers).at(-1)).toBe("probe_a:call refused at body");
    });
  });

  describe("response", () => {
    it("lets stages read each response body chunk (ex.responseChunk) without holding the response", async () => {
      const host = new Host();
      const plugin = (await host.loadVm(WASM, { vmId: "ai-gateway" })).startPlugin({ rootId: "ai-gateway", configuration: { model_router: ROUTER, probe_a: {} }, allowOnHeadersStopIteration: true });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, body: chat });
      const bytes = Buffer.byteLength(res.response?.body ?? "");
      expect(bytes).toBeGreaterThan(0);
      expect(host.logs().map((l) => l.message)).toContain(`probe_a: response bytes ${bytes}`);
    });

    it("runs the response hooks in reverse chain order", async () => {
      const plugin = await pipeline({ model_router: ROUTER, probe_a: {}, probe_b: {} });
      const res = await plugin.request({ method: "POST", headers: JSON_CT, body: chat });
      expect(res.response?.headers["x-probe-order"]).toBe("probe_b 200,probe_a 200");
    });

    it("shows a local reply only to the stages whose request hooks ran", async () => {
      const plugin = await pipeline({ model_router: ROUTER, probe_a: {}, probe_b: {} });
      const unknown = await plugin.request({ method: "POST", headers: JSON_CT, body: JSON.stringify({ model: "gpt-9" }) });
      expect(unknown.status).toBe(404);
      expect(unknown.response?.headers["x-probe-order"]).toBeUndefined();
      const tooLarge = await (await pipeline({ model_router: ROUTER, probe_a: { need_body: true, max_body_bytes: 10 }, probe_b: {} }))
        .request({ method: "POST", headers: { ...JSON_CT, "x-model": "llama" }, body: '{"pad":"' + "x".repeat(20) + '"}' });
      expect(tooLarge.response?.headers["x-probe-order"]).toBe("probe_a(local) 413");
    });
  });
});
