// The floor of required calls (bench/floors/calls-floor.ts) run through the host emulator: for
// each calls-* variant of bench/variants.ts, a request makes exactly the host calls its script
// lists, besides the body floor's two, with the headers it adds reaching the upstream and the
// client; a script's phases run where they say; a bad script refuses to start with one line.
// Part of the unit project (`npm test`).
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { Host, type Plugin, type RequestResult } from "./emulator";
import { buildFloors } from "../bench/build-floors";
import { requestBody, requestHeaders } from "../bench/request";
import { COMPLETION } from "../bench/upstream";
import { CLUSTER, ROUTE_HEADER, VARIANTS, headerMismatch, type Variant } from "../bench/variants";

const VM_ID = "ai-gateway";

/** The host function each op calls (what the script promises, from the module's own contract). */
const OP_CALLS: Record<string, string> = {
  "read-request-headers": "proxy_get_header_map_pairs",
  "read-response-headers": "proxy_get_header_map_pairs",
  "read-request-header": "proxy_get_header_map_value",
  "read-response-header": "proxy_get_header_map_value",
  "add-request-header": "proxy_add_header_map_value",
  "add-response-header": "proxy_add_header_map_value",
  "read-response-body": "proxy_get_buffer_bytes",
  "read-clock": "proxy_get_current_time_nanoseconds",
  "get-shared": "proxy_get_shared_data",
  "set-shared": "proxy_set_shared_data",
  "put-shared": "proxy_set_shared_data",
  "set-property": "proxy_set_property",
  count: "proxy_increment_metric",
  // Work in the module, no host call.
  "hash-request-body": "",
};

/** The body floor's own calls per request: the body's read and the cluster header. */
const BODY_FLOOR_CALLS: Record<string, number> = { proxy_get_buffer_bytes: 1, proxy_replace_header_map_value: 1 };

/** What a script's ops cost in host calls per request, plus the body floor's (one response chunk). */
function expectedCalls(script: string[]): Record<string, number> {
  const out = { ...BODY_FLOOR_CALLS };
  for (const line of script) {
    const call = OP_CALLS[line.trim().split(/\s+/)[1]];
    if (call !== "") out[call] = (out[call] ?? 0) + 1;
  }
  return out;
}

let wasm = "";
beforeAll(async () => {
  wasm = (await buildFloors(["calls-floor"]))["calls-floor"];
});

async function start(script: string[]): Promise<{ host: Host; plugin: Plugin }> {
  const host = new Host();
  const vm = await host.loadVm(wasm, { vmId: VM_ID });
  const plugin = vm.startPlugin({ rootId: "calls-floor", configuration: script.join("\n"), allowOnHeadersStopIteration: true });
  return { host, plugin };
}

/** The bench's n-th request of `v`, answered as the bench's upstream answers, its body ended as Envoy's HTTP/1 codec ends it (an empty last frame). */
function benchRequest(plugin: Plugin, v: Pick<Variant, "bodies">, n: number): Promise<RequestResult> {
  const headers = Object.fromEntries(Object.entries(requestHeaders(n)).filter(([name]) => name !== "content-length").map(([name, value]) => [name, String(value)]));
  return plugin.request(
    { method: "POST", path: "/v1/chat/completions", headers, body: requestBody(v.bodies ?? "plain", n) },
    { upstream: () => ({ status: 200, headers: { "content-type": "application/json" }, bodyChunks: [COMPLETION, ""] }) },
  );
}

function callsMade(plugin: Plugin, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of plugin.vm.hostCalls) if (count !== (before.get(name) ?? 0)) out[name] = count - (before.get(name) ?? 0);
  return out;
}

const CALLS_VARIANTS = VARIANTS.filter((v) => v.kind === "calls");

describe("calls-floor", () => {
  it("has a floor of required calls beside each filter the issues set a target for", () => {
    expect(CALLS_VARIANTS.map((v) => v.shadows)).toEqual(["model-router", "pipeline", "inference-cache", "token-bucket", "pipeline-full"]);
  });

  describe.each(CALLS_VARIANTS.map((v) => [v.key, v] as const))("%s", (_key, v) => {
    it("makes exactly its script's host calls on each request, besides the body floor's, and writes values of the script's sizes", async () => {
      const { host, plugin } = await start(v.script!);
      expect(plugin.configured).toBe(true);
      const want = expectedCalls(v.script!);
      for (let n = 0; n < 3; n++) {
        const before = new Map(plugin.vm.hostCalls);
        const res = await benchRequest(plugin, v, n);
        expect(res.status).toBe(200);
        expect(callsMade(plugin, before)).toEqual(want);
      }
      // Only the very first read of a key finds nothing; every later one reads what the last
      // request wrote, a value of the script's size.
      const failed = host.hostCallFailures.map((f) => `${f.function} ${f.statusName}`);
      const firstReads = new Set(v.script!.filter((l) => l.includes(" get-shared ")).map((l) => l.trim().split(/\s+/)[2]));
      expect(failed).toEqual([...firstReads].map(() => "proxy_get_shared_data NotFound"));
      for (const line of v.script!) {
        const [, op, key, size] = line.trim().split(/\s+/);
        if (op === "set-shared" || op === "put-shared") expect(host.sharedData.get(key, VM_ID)?.bytes.length).toBe(Number(size));
      }
    });

    it("sends the headers it adds upstream and to the client, and routes by the body floor's header", async () => {
      const { plugin } = await start(v.script!);
      const res = await benchRequest(plugin, v, 0);
      expect(res.upstreamRequest?.headers[ROUTE_HEADER]).toBe(CLUSTER);
      expect(headerMismatch(v.upstreamHeaders, res.upstreamRequest?.headers ?? {})).toBeNull();
      expect(headerMismatch(v.responseHeaders, res.response?.headers ?? {})).toBeNull();
    });

  });

  describe("phases", () => {
    it("reads each response chunk that carries data, and runs response-end once, at the end", async () => {
      const { plugin } = await start(["response-body read-response-body", "response-end read-clock"]);
      const before = new Map(plugin.vm.hostCalls);
      await plugin.request(
        { method: "POST", path: "/", body: "{}" },
        { upstream: () => ({ status: 200, bodyChunks: ["first", "second", ""] }) },
      );
      expect(callsMade(plugin, before)).toEqual({ ...BODY_FLOOR_CALLS, proxy_get_buffer_bytes: 1 + 2, proxy_get_current_time_nanoseconds: 1 });
    });

    it("compares-and-swaps with set-shared and writes over anything with put-shared", async () => {
      const { host, plugin } = await start(["request-body get-shared k", "request-body set-shared k 8", "response-headers put-shared p 4"]);
      await benchRequest(plugin, {}, 0);
      const { cas } = host.sharedData.get("k", VM_ID)!;
      // Another worker writes between two requests: the next get-shared reads its CAS, so the swap still succeeds.
      host.sharedData.set("k", "other", { vmId: VM_ID });
      host.sharedData.set("p", "other", { vmId: VM_ID });
      await benchRequest(plugin, {}, 1);
      expect(host.sharedData.get("k", VM_ID)!.cas).toBeGreaterThan(cas);
      expect(host.sharedData.get("k", VM_ID)!.value).toBe("vvvvvvvv");
      expect(host.sharedData.get("p", VM_ID)!.value).toBe("vvvv");
      expect(host.failedCalls({ function: "proxy_set_shared_data" })).toEqual([]);
    });

    it("defines a counter when configured and increments it once per request", async () => {
      const { host, plugin } = await start(["# a comment, then a blank line", "", "request-headers count calls_floor.requests"]);
      expect(host.metric("calls_floor.requests")).toBe(0);
      await benchRequest(plugin, {}, 0);
      await benchRequest(plugin, {}, 1);
      expect(host.metric("calls_floor.requests")).toBe(2);
    });

    it("reads single headers and sets a property, each answered Ok", async () => {
      const script = ["request-headers read-request-header authorization", "response-headers read-response-header content-type", "request-body set-property llm_tokens 111"];
      const { host, plugin } = await start(script);
      const before = new Map(plugin.vm.hostCalls);
      await benchRequest(plugin, {}, 0);
      expect(callsMade(plugin, before)).toEqual(expectedCalls(script));
      expect(host.hostCallFailures).toEqual([]);
    });

    it("hashes the request body with SHA-256, making no host call", async () => {
      const script = ["request-body hash-request-body"];
      const { plugin } = await start(script);
      for (const [kind, n] of [["plain", 0], ["unique-deterministic", 7]] as const) {
        const before = new Map(plugin.vm.hostCalls);
        await benchRequest(plugin, { bodies: kind }, n);
        expect(callsMade(plugin, before)).toEqual(BODY_FLOOR_CALLS);
        // The state words after the last block are the digest's eight big-endian words, held as
        // the module's (little-endian) u32s: found in its memory only if the hash was right.
        const digest = createHash("sha256").update(requestBody(kind, n)).digest();
        const words = Buffer.alloc(32);
        for (let i = 0; i < 8; i++) words.writeUInt32LE(digest.readUInt32BE(i * 4), i * 4);
        const memory = Buffer.from(plugin.vm.memory.view(0, plugin.vm.memory.byteLength) ?? new Uint8Array(0));
        expect(memory.indexOf(words)).toBeGreaterThanOrEqual(0);
      }
    });

    it("is the body floor alone with an empty script", async () => {
      const { plugin } = await start([]);
      const before = new Map(plugin.vm.hostCalls);
      const res = await benchRequest(plugin, {}, 0);
      expect(res.upstreamRequest?.headers[ROUTE_HEADER]).toBe(CLUSTER);
      expect(callsMade(plugin, before)).toEqual(BODY_FLOOR_CALLS);
    });
  });

  describe("a bad script", () => {
    it.each([
      ["request-trailers read-clock", 'line 1: unknown phase "request-trailers"; expected one of request-headers, request-body, response-headers, response-body, response-end'],
      ["request-headers read-clock\nrequest-body add-header x 1", 'line 2: unknown op "add-header"; expected one of read-request-headers,'],
      ["request-body add-request-header x-a", "line 1: add-request-header takes NAME VALUE, got 1 argument(s)"],
      ["request-body read-clock now", "line 1: read-clock takes no arguments, got 1 argument(s)"],
      ["response-body add-response-header x-a b", "line 1: add-response-header cannot run in response-body; it runs in response-headers"],
      ["request-body read-response-body", "line 1: read-response-body cannot run in request-body; it runs in response-body"],
      ["response-end put-shared k 0", 'line 1: put-shared: SIZE must be 1..65536, got "0"'],
      ["response-end set-shared k 1x", 'line 1: set-shared: SIZE must be 1..65536, got "1x"'],
      ["request-body add-request-header x-a b c", "line 1: too many fields; expected <phase> <op> [args]"],
      ["read-clock", 'line 1: expected <phase> <op> [args], got only "read-clock"'],
    ])("refuses %j with one critical line", async (script, message) => {
      const { host, plugin } = await start(script.split("\n"));
      expect(plugin.configured).toBe(false);
      const lines = host.logs({ minLevel: "critical" }).map((l) => l.message);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`calls-floor: ${message}`);
    });
  });
});
