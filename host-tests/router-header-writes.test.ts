// The router's x-ai-* and cluster headers, written from bytes made once (HeaderEdit.AddNew: no
// lookup for a value to join), as a later stage of the same pipeline reads them through the
// Exchange's header view and as Envoy sends them upstream: the router's values, never a
// client's copy, one value each, on every routing path (at the headers, at the body, with
// another stream of the worker between), for every tenant (an identity, none, another identity
// in the same slot of the digest table).
import { createHash } from "node:crypto";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Host } from "./emulator";
import { ROOT } from "./fixtures/build-module";
import { buildProbe, startProbePipeline } from "./fixtures/pipeline-probe-host";

const ROUTER = { models: { llama: { versions: { v1: { cluster: "llama-v1" } } } } };
const JSON_CT = { "content-type": "application/json" };
const chat = JSON.stringify({ model: "llama", messages: [{ role: "user", content: "hi" }] });
const OUTPUTS = ["x-ai-cluster", "x-ai-model", "x-ai-model-version", "x-ai-tenant"];
const sha = (v: string) => createHash("sha256").update(v).digest("hex");

beforeAll(async () => {
  await buildProbe();
}, 300_000);

const pipeline = startProbePipeline;

const seen = (headers: Record<string, string> | undefined) => (headers?.["x-probe"] ?? "").split(";").filter((p) => p.includes(":sees "));

/** TenantDigests' slot of an identity (assembly/tenant/digests.ts `slotOf`). */
function digestSlot(identity: string): number {
  const MIX = 0x9e3779b97f4a7c15n;
  const M = (1n << 64n) - 1n;
  const b = Buffer.from(identity, "utf8");
  let x = (BigInt(b.length) * MIX) & M;
  let i = 0;
  for (; i + 8 <= b.length; i += 8) x = ((x ^ b.readBigUInt64LE(i)) * MIX) & M;
  for (; i < b.length; i++) x = ((x ^ BigInt(b[i])) * MIX) & M;
  return Number((x >> 58n) & 63n);
}

describe("router header writes as later stages and the upstream see them", () => {
  const clientCopies: Array<[string, string]> = [
    ["x-ai-cluster", "evil-1"], ["x-ai-cluster", "evil-2"], ["x-ai-model", "evil"], ["x-ai-model", "evil2"],
    ["x-ai-model-version", "evil"], ["x-ai-tenant", "evil"], ["x-ai-tenant", "evil2"],
  ];

  for (const [label, extra, body] of [
    ["routed at the headers", [["x-model", "llama"]], '{"a":1}'],
    ["routed at the body", [], chat],
    ["routed at the body, model rewritten", [], JSON.stringify({ model: "llama", x: 1 })],
  ] as Array<[string, Array<[string, string]>, string]>) {
    it(`shows the router's values, one each, ${label}`, async () => {
      const { plugin } = await pipeline({
        model_router: { ...ROUTER, rewrite_body_model: true, models: { llama: { versions: { v1: { cluster: "llama-v1", upstream_model: "meta/llama" } } } } },
        probe_a: { edits: OUTPUTS.map((n) => ["read", n]) },
        probe_b: { need_body: true, edits: OUTPUTS.map((n) => ["read", n]) },
      });
      const before = plugin.vm.hostCalls.get("proxy_get_header_map_pairs") ?? 0;
      const res = await plugin.request({
        method: "POST",
        headers: [["content-type", "application/json"], ["authorization", "Bearer sk-1"], ...clientCopies, ...extra],
        body,
      });
      expect(res.status).toBe(200);
      const tenant = sha("Bearer sk-1").slice(0, 16);
      const want = ["x-ai-cluster=llama-v1", "x-ai-model=llama", "x-ai-model-version=v1", `x-ai-tenant=${tenant}`];
      expect(seen(res.upstreamRequest?.headers)).toEqual([...want.map((w) => `probe_a:sees ${w}`), ...want.map((w) => `probe_b:sees ${w}`)]);
      const up = res.upstreamRequest?.headerPairs ?? [];
      for (const n of OUTPUTS) expect(up.filter(([k]) => k === n).map(([, v]) => v), n).toEqual([want[OUTPUTS.indexOf(n)].split("=")[1]]);
      // The request's map read once (the router's removals and adds and the probes' x-probe
      // replaces all recorded on the view), the response's once (the probes' x-probe-order).
      expect((plugin.vm.hostCalls.get("proxy_get_header_map_pairs") ?? 0) - before).toBe(2);
    });
  }

  it("writes each stream's own tenant when another stream's identity takes the same digest slot between its headers and its body", async () => {
    const a = "Bearer sk-a";
    const slot = digestSlot(a);
    let b = "";
    for (let i = 0; b === ""; i++) if (digestSlot(`Bearer sk-b${i}`) === slot) b = `Bearer sk-b${i}`;
    const { plugin } = await pipeline({ model_router: ROUTER, probe_a: { edits: [["read", "x-ai-tenant"]] } });
    const upstream = () => ({ status: 200, body: "{}" });
    const s1 = plugin.newStream({ upstream });
    const s2 = plugin.newStream({ upstream });
    s1.requestHeaders({ ":method": "POST", ...JSON_CT, authorization: a });
    s2.requestHeaders({ ":method": "POST", ...JSON_CT, authorization: b });
    s2.requestBody(chat, { endOfStream: true });
    s1.requestBody(chat, { endOfStream: true });
    const r1 = s1.finish();
    const r2 = s2.finish();
    expect(r1.upstreamRequest?.headers["x-ai-tenant"]).toBe(sha(a).slice(0, 16));
    expect(r2.upstreamRequest?.headers["x-ai-tenant"]).toBe(sha(b).slice(0, 16));
    expect(seen(r1.upstreamRequest?.headers)).toEqual([`probe_a:sees x-ai-tenant=${sha(a).slice(0, 16)}`]);
    expect(seen(r2.upstreamRequest?.headers)).toEqual([`probe_a:sees x-ai-tenant=${sha(b).slice(0, 16)}`]);
    // And the slot's first owner again, after the other: its digest made anew.
    const again = await plugin.request({ method: "POST", headers: { ...JSON_CT, authorization: a }, body: chat });
    expect(again.upstreamRequest?.headers["x-ai-tenant"]).toBe(sha(a).slice(0, 16));
  });

  for (const [label, cfg, headers, want] of [
    ["no identity: anonymous_tenant", {}, {}, "anonymous"],
    ["an empty identity: anonymous_tenant", {}, { authorization: "" }, "anonymous"],
    ["a custom anonymous_tenant", { anonymous_tenant: "guest-x" }, {}, "guest-x"],
    ["anonymous_tenant \"\"", { anonymous_tenant: "" }, {}, undefined],
    ["tenant_header \"\"", { tenant_header: "" }, { authorization: "Bearer sk-1" }, undefined],
    ["tenant_hex_chars 8", { tenant_hex_chars: 8 }, { authorization: "Bearer sk-1" }, sha("Bearer sk-1").slice(0, 8)],
    ["tenant_hex_chars 64", { tenant_hex_chars: 64 }, { authorization: "Bearer sk-1" }, sha("Bearer sk-1")],
    ["another tenant_header", { tenant_header: "x-api-key" }, { authorization: "Bearer sk-1", "x-api-key": "k" }, sha("k").slice(0, 16)],
  ] as Array<[string, object, Record<string, string>, string | undefined]>) {
    it(`writes x-ai-tenant for ${label}, twice in a row (the stage renewed)`, async () => {
      const { plugin } = await pipeline({ model_router: { ...ROUTER, ...cfg }, probe_a: { edits: [["read", "x-ai-tenant"]] } });
      for (let i = 0; i < 2; i++) {
        const res = await plugin.request({ method: "POST", headers: { ...JSON_CT, "x-ai-tenant": "client", ...headers }, body: chat });
        expect(res.status).toBe(200);
        expect(res.upstreamRequest?.headers["x-ai-tenant"]).toBe(want);
        expect(seen(res.upstreamRequest?.headers)).toEqual([`probe_a:sees x-ai-tenant${want === undefined ? " absent" : "=" + want}`]);
      }
    });
  }
  it("writes each route's cluster header and tenant, routes alternating on one worker's pooled streams", async () => {
    const { host, plugin } = await pipeline({
      model_router: ROUTER,
      routes: { other: { model_router: { cluster_header: "x-other-cluster", tenant_hex_chars: 8 } } },
      probe_a: { edits: [["read", "x-ai-cluster"], ["read", "x-other-cluster"], ["read", "x-ai-tenant"]] },
    });
    const auth = "Bearer sk-1";
    for (const route of ["", "other", "", "other", "other", ""]) {
      host.setProperty(["xds", "route_name"], route);
      const res = await plugin.request({
        method: "POST",
        headers: [["content-type", "application/json"], ["authorization", auth], ["x-ai-cluster", "evil"], ["x-other-cluster", "evil"], ["x-ai-tenant", "evil"]],
        body: chat,
      });
      expect(res.status).toBe(200);
      const mine = route === "other" ? "x-other-cluster" : "x-ai-cluster";
      const theirs = route === "other" ? "x-ai-cluster" : "x-other-cluster";
      const tenant = sha(auth).slice(0, route === "other" ? 8 : 16);
      const up = res.upstreamRequest?.headerPairs ?? [];
      expect(up.filter(([k]) => k === mine).map(([, v]) => v), route).toEqual(["llama-v1"]);
      // Another route's cluster header is a client's header like any other here.
      expect(up.filter(([k]) => k === theirs).map(([, v]) => v), route).toEqual(["evil"]);
      expect(up.filter(([k]) => k === "x-ai-tenant").map(([, v]) => v), route).toEqual([tenant]);
      const values: Record<string, string> = { [mine]: "llama-v1", [theirs]: "evil", "x-ai-tenant": tenant };
      expect(seen(res.upstreamRequest?.headers), route).toEqual(["x-ai-cluster", "x-other-cluster", "x-ai-tenant"].map((n) => `probe_a:sees ${n}=${values[n]}`));
    }
  });
  it("sends the cache's own x-ai-cache-key upstream, one value, after the router's writes, whatever copies the client sent", async () => {
    const host = new Host();
    const plugin = (await host.loadVm(path.join(ROOT, "build", "ai-gateway.wasm"), { vmId: "ai-gateway" }))
      .startPlugin({ rootId: "ai-gateway", configuration: { model_router: ROUTER, inference_cache: {} }, allowOnHeadersStopIteration: true });
    expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
    const body = JSON.stringify({ model: "llama", temperature: 0, messages: [{ role: "user", content: "hi" }] });
    const res = await plugin.request({
      method: "POST", path: "/v1/chat/completions",
      headers: [["content-type", "application/json"], ["x-ai-cache-key", "f".repeat(64)], ["x-ai-cache-key", "e".repeat(64)], ["x-ai-model", "evil"]],
      body,
    }, { upstream: () => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"choices":[]}' }) });
    expect(res.status).toBe(200);
    const up = res.upstreamRequest?.headerPairs ?? [];
    const keys = up.filter(([k]) => k === "x-ai-cache-key").map(([, v]) => v);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(keys[0]).toBe(res.response?.headers["x-ai-cache-key"]);
    expect(up.filter(([k]) => k === "x-ai-model").map(([, v]) => v)).toEqual(["llama"]);
  });
  it("lets token-bucket key by the router's x-ai-tenant in one entry when the client sent two copies (the router's one counts, not the client's two)", async () => {
    const host = new Host();
    const plugin = (await host.loadVm(path.join(ROOT, "build", "ai-gateway.wasm"), { vmId: "ai-gateway" })).startPlugin({
      rootId: "ai-gateway",
      configuration: { model_router: ROUTER, token_bucket: { tenant_header: "x-ai-tenant", models: { llama: { tenant: { requests_per_minute: 60 } } } } },
      allowOnHeadersStopIteration: true,
    });
    expect(plugin.configured, JSON.stringify(host.logs({ minLevel: "warn" }))).toBe(true);
    const send = (headers: Array<[string, string]>) => plugin.request({
      method: "POST", path: "/v1/chat/completions", headers: [["content-type", "application/json"], ["authorization", "Bearer sk-1"], ...headers], body: chat,
    }, { upstream: () => ({ status: 200, headers: { "content-type": "application/json" }, body: '{"choices":[]}' }) });
    const copies = await send([["x-ai-tenant", "evil"], ["x-ai-tenant", "evil2"]]);
    expect(copies.status, copies.response?.body).toBe(200);
    expect(copies.upstreamRequest?.headerPairs.filter(([k]) => k === "x-ai-tenant").map(([, v]) => v)).toEqual([sha("Bearer sk-1").slice(0, 16)]);
    // The same tenant's bucket as a request without copies: one identity, the router's.
    const plain = await send([]);
    expect(plain.status).toBe(200);
    expect(Number(plain.response?.headers["x-ratelimit-remaining-requests"])).toBe(Number(copies.response?.headers["x-ratelimit-remaining-requests"]) - 1);
  });
});
