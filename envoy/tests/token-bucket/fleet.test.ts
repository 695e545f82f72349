// token-bucket's fleet mode through real Envoys: two Envoy 1.40 processes (two workers each) run
// the chain of plugins/token-bucket/README.md#fleet-mode (fleet.template.yaml: model-router →
// token-bucket with local limits off → envoy.filters.http.ratelimit → router) in front of the demo
// server, with one rate-limit service (envoy/ratelimit-service/server.py, counting as
// envoyproxy/ratelimit does) over one Redis. The router's x-ai-tenant and x-ai-model make the
// descriptor; the rate-limit filter checks it at admission (hits_addend 0) and, when the stream is
// done, charges the filter state wasm.llm_tokens, which the stage has by then set to the usage the
// response reported. The service's clock is frozen on an hour boundary, so no window rolls over.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import {
  RATELIMIT_SERVICE_DIR,
  ROOT,
  addLogSource,
  closeHttp1Connections,
  http1Request,
  localizeExample,
  printEnvoyLogsOnFailure,
  ratelimitCacheKey,
  readTemplate,
  startEnvoy,
  startRatelimitService,
  startSharedStore,
  type Envoy,
  type HttpRequest,
  type HttpResponse,
  type RatelimitService,
  type SharedStore,
} from "../../harness";
import { startDemoServer, type DemoServer } from "../../demo-server/server.mjs";
import { FLUSH_ARGS, STEP_HEADER, llmTokensOf, streamRequest, wasmFailureStats, wasmFailures } from "./envoy";

const TEMPLATE = readTemplate("envoy/tests/token-bucket/fleet.template.yaml");
const README = readFileSync(path.join(ROOT, "plugins/token-bucket/README.md"), "utf8");
const RATELIMIT_README = readFileSync(path.join(ROOT, RATELIMIT_SERVICE_DIR, "README.md"), "utf8");

/** An hour boundary: every hour window starts here. */
const NOW = 1_800_000_000;
const DOMAIN = "ai-gateway";
/** LLM tokens per tenant and model per hour, fleet-wide. */
const BUDGET = 1000;
const LIMITS = { domain: DOMAIN, descriptors: [{ key: "tenant", descriptors: [{ key: "model", rate_limit: { unit: "hour", requests_per_unit: BUDGET } }] }] };
const CHAT = "/v1/chat/completions";

printEnvoyLogsOnFailure();

let store: SharedStore;
let service: RatelimitService;
let demo: DemoServer;
let a: Envoy;
let b: Envoy;
let steps = 0;
let tenants = 0;

beforeAllOrFailEach(async () => {
  store = await startSharedStore({ name: "token-bucket-fleet-redis" });
  addLogSource("rate-limit Redis", store.logs);
  service = await startRatelimitService({ limits: LIMITS, store, frozenTime: NOW, name: "token-bucket-fleet-ratelimit" });
  addLogSource("rate-limit service", service.logs);
  demo = await startDemoServer({ name: "demo-fleet", models: "llama:v1,qwen:v1", chunkMs: 5 });
  const vars = { MODEL_SERVER_PORT: demo.port, RATELIMIT_PORT: service.port };
  const start = (name: string) => startEnvoy({ runner: "process", name, config: TEMPLATE, vars, wasm: ["build/ai-gateway.wasm"], extraArgs: FLUSH_ARGS });
  [a, b] = await Promise.all([start("token-bucket-fleet-a"), start("token-bucket-fleet-b")]);
}, 120_000);

afterAll(async () => {
  closeHttp1Connections();
  await Promise.all([a?.stop(), b?.stop()]);
  await demo?.close();
  await service?.close();
  await store?.close();
});

/** A client no other test (nor an earlier run on the same Redis) counts for: its identity and the router's x-ai-tenant for it. */
function newClient(what: string): { identity: string; tenant: string } {
  const identity = `Bearer fleet-${what}-${process.pid}-${++tenants}`;
  return { identity, tenant: createHash("sha256").update(identity).digest("hex").slice(0, 16) };
}

const keyOf = (tenant: string, model = "llama") => ratelimitCacheKey(DOMAIN, [{ key: "tenant", value: tenant }, { key: "model", value: model }], "hour", NOW);

function chatRequest(identity: string, content: string, extra: Record<string, unknown> = {}, model = "llama"): HttpRequest {
  return {
    method: "POST",
    path: CHAT,
    headers: { "content-type": "application/json", authorization: identity, [STEP_HEADER]: `fleet-${++steps}` },
    body: JSON.stringify({ model, messages: [{ role: "user", content }], max_tokens: 64, ...extra }),
  };
}

const usageOf = (res: HttpResponse) => (JSON.parse(res.text) as { usage: { total_tokens: number } }).usage.total_tokens;

async function until<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const counterReaches = (key: string, want: number) => until(`counter ${key}`, () => service.counter(key), (v) => v === want);

/** The service's log lines for one tenant. */
const serviceLines = (tenant: string) => service.logs().split("\n").filter((l) => l.includes(`(tenant=${tenant},`));

describe("token-bucket fleet mode: two Envoys, one rate-limit service, one Redis", () => {
  it("runs the README's fleet chain and route rules (the route rules are the rate-limit service README's)", () => {
    const section = README.slice(README.indexOf("## Fleet mode"), README.indexOf("\n## ", README.indexOf("## Fleet mode") + 1));
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    const indented = (block: string, spaces: number) =>
      block
        .trimEnd()
        .split("\n")
        .map((l) => " ".repeat(spaces) + l)
        .join("\n") + "\n";
    const only = (needle: string) => {
      const found = blocks.filter((bl) => bl.includes(needle));
      expect(found, needle).toHaveLength(1);
      return found[0];
    };
    const chain = only("http_filters:\n");
    expect(TEMPLATE).toContain(indented(localizeExample(chain, "${WASM_DIR}"), 10).replace("timeout: 0.1s", "timeout: 2s"));
    const route = only("typed_per_filter_config:\n");
    expect(TEMPLATE).toContain(indented(route, 16));
    expect([...RATELIMIT_README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1])).toContain(route);
  });

  it("checks at admission and charges each request its reported usage when the stream is done, through either Envoy", async () => {
    const { identity, tenant } = newClient("charge");
    const key = keyOf(tenant);
    const firstReq = chatRequest(identity, "first, through A");
    const first = await http1Request(a.listenerUrl, firstReq);
    expect(first.status).toBe(200);
    // The descriptor's values: the router's headers, which the demo server saw too.
    expect(JSON.parse(first.headers["x-demo-seen-ai-headers"])).toMatchObject({ "x-ai-tenant": tenant, "x-ai-model": "llama" });
    expect(first.headers).toMatchObject({ "x-ratelimit-limit": `${BUDGET}, ${BUDGET};w=3600`, "x-ratelimit-remaining": String(BUDGET) });
    const u1 = usageOf(first);
    // The usage, not the reservation (64 + the prompt estimate) the stage wrote at admission.
    expect(await llmTokensOf(a, firstReq.headers![STEP_HEADER])).toBe(String(u1));
    await counterReaches(key, u1);

    const second = await http1Request(b.listenerUrl, chatRequest(identity, "second, through B"));
    expect(second.headers["x-ratelimit-remaining"]).toBe(String(BUDGET - u1));
    const u2 = usageOf(second);
    await counterReaches(key, u1 + u2);

    // A stream is charged the usage of its usage chunk.
    const req = chatRequest(identity, "third, streamed through A", { stream: true, stream_options: { include_usage: true } });
    const res = await streamRequest(a.listenerUrl, req);
    expect(res.status).toBe(200);
    expect(res.headers["x-ratelimit-remaining"]).toBe(String(BUDGET - u1 - u2));
    const events = (await res.done).split("\n\n").filter((e) => e.startsWith("data: ")).map((e) => e.slice(6));
    const u3 = (JSON.parse(events.at(-2)!) as { usage: { total_tokens: number } }).usage.total_tokens;
    expect(await llmTokensOf(a, req.headers![STEP_HEADER])).toBe(String(u3));
    await counterReaches(key, u1 + u2 + u3);
    // The service logs a call after Redis answered it: wait for the lines too.
    await until("the service's log lines", () => serviceLines(tenant).length, (n) => n >= 6);
    expect(serviceLines(tenant).map((l) => l.replace(/^.*\) /, "")).sort()).toEqual(
      [`+0: ${key} 0 -> OK`, `+${u1}: ${key} ${u1} -> OK`, `+0: ${key} ${u1} -> OK`, `+${u2}: ${key} ${u1 + u2} -> OK`, `+0: ${key} ${u1 + u2} -> OK`, `+${u3}: ${key} ${u1 + u2 + u3} -> OK`].sort(),
    );
  });

  it("admits one budget plus at most one request across both Envoys, requests one at a time; other tenants and models keep theirs", async () => {
    const { identity, tenant } = newClient("serial");
    const key = keyOf(tenant);
    const usages: number[] = [];
    const refusedBy = new Set<Envoy>();
    for (let i = 0; i < 200 && refusedBy.size < 2; i++) {
      const envoy = i % 2 === 0 ? a : b;
      const req = chatRequest(identity, `serial request ${i}: tell me something`);
      const res = await http1Request(envoy.listenerUrl, req);
      if (res.status === 200) {
        usages.push(usageOf(res));
        // The next request goes out once this one's charge is counted: one request at a time.
        await counterReaches(key, usages.reduce((x, y) => x + y, 0));
        continue;
      }
      expect(res.status).toBe(429);
      expect(res.headers).toMatchObject({ "x-envoy-ratelimited": "true", "x-ratelimit-remaining": "0" });
      // Charged 0: wasm.llm_tokens is 0 once the stage has seen the 429.
      expect(await llmTokensOf(envoy, req.headers![STEP_HEADER])).toBe("0");
      refusedBy.add(envoy);
    }
    const admitted = usages.reduce((x, y) => x + y, 0);
    const last = usages.at(-1)!;
    console.log(`token-bucket fleet, one at a time: budget ${BUDGET}, ${usages.length} admitted using ${admitted} tokens (overshoot ${admitted - BUDGET}, the last request used ${last})`);
    expect(refusedBy.size).toBe(2);
    // Admitted while the window's count was within the budget: the last one took it over.
    expect(admitted - last).toBeLessThanOrEqual(BUDGET);
    expect(admitted).toBeGreaterThan(BUDGET);
    // The refused requests were charged 0: the count stays where the admitted ones left it.
    await until("the refused requests' charges", () => serviceLines(tenant).length, (n) => n === 2 * (usages.length + 2));
    expect(await service.counter(key)).toBe(admitted);
    expect(serviceLines(tenant).filter((l) => l.includes("-> OVER_LIMIT") && !/\+0: /.test(l))).toHaveLength(1);

    // Another model of the same tenant, and another tenant of the same model, have budgets of their own.
    const otherModel = await http1Request(b.listenerUrl, chatRequest(identity, "another model", {}, "qwen"));
    expect([otherModel.status, otherModel.headers["x-ratelimit-remaining"]]).toEqual([200, String(BUDGET)]);
    const other = newClient("serial-other");
    const otherTenant = await http1Request(a.listenerUrl, chatRequest(other.identity, "another tenant"));
    expect([otherTenant.status, otherTenant.headers["x-ratelimit-remaining"]]).toEqual([200, String(BUDGET)]);
    await counterReaches(keyOf(tenant, "qwen"), usageOf(otherModel));
    await counterReaches(keyOf(other.tenant), usageOf(otherTenant));
  });

  it("admits at most one budget plus the requests in flight, with concurrent clients on both Envoys", async () => {
    const { identity, tenant } = newClient("concurrent");
    const key = keyOf(tenant);
    const clients = [...Array(8).fill(a), ...Array(8).fill(b)] as Envoy[];
    const admittedPerClient = await Promise.all(
      clients.map(async (envoy, c) => {
        const usages: number[] = [];
        for (let i = 0; i < 200; i++) {
          const res = await http1Request(envoy.listenerUrl, chatRequest(identity, `concurrent ${c}.${i}: tell me something`));
          if (res.status !== 200) {
            expect(res.status).toBe(429);
            return usages;
          }
          usages.push(usageOf(res));
        }
        throw new Error("never refused");
      }),
    );
    const all = admittedPerClient.flat();
    const admitted = all.reduce((x, y) => x + y, 0);
    // Every admitted request is charged its usage once, a refused one nothing.
    await counterReaches(key, admitted);
    const overshoot = admitted - BUDGET;
    console.log(`token-bucket fleet, ${clients.length} concurrent clients: budget ${BUDGET}, ${all.length} admitted using ${admitted} tokens (overshoot ${overshoot}, largest request ${Math.max(...all)})`);
    expect(overshoot).toBeGreaterThan(0);
    // Each client has at most one request in flight and one whose charge is on its way when the budget runs out.
    expect(overshoot).toBeLessThanOrEqual(2 * clients.length * Math.max(...all));
  });

  it("charges a reported usage beyond Envoy's largest hits_addend as 10^9, which Envoy accepts, instead of nothing", async () => {
    const { identity, tenant } = newClient("huge-usage");
    const key = keyOf(tenant);
    // The demo server claims 5*10^9 completion tokens (x-demo-usage-tokens); Envoy's rate-limit
    // filter refuses a hits_addend above 10^9 and would then charge this request nothing.
    const req = chatRequest(identity, "a server that overstates its usage");
    req.headers = { ...req.headers, "x-demo-usage-tokens": "5000000000" };
    const res = await http1Request(b.listenerUrl, req);
    expect(res.status).toBe(200);
    expect(usageOf(res)).toBeGreaterThan(5_000_000_000);
    expect(await llmTokensOf(b, req.headers[STEP_HEADER])).toBe("1000000000");
    await counterReaches(key, 1_000_000_000);
    // Charged: the tenant is over its budget, through either Envoy.
    for (const envoy of [a, b]) {
      const next = await http1Request(envoy.listenerUrl, chatRequest(identity, "after the huge one"));
      expect(next.status).toBe(429);
    }
    expect(b.logs()).not.toContain("Invalid hits_addend");
  });

  it("neither checks nor charges a request the stage refuses (400): the rate-limit filter comes after it", async () => {
    const { identity, tenant } = newClient("invalid");
    const res = await http1Request(a.listenerUrl, chatRequest(identity, "absurd", { max_tokens: 1e15 }));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error).toMatchObject({ param: "max_tokens", code: "integer_above_max_value" });
    expect(res.headers["x-ratelimit-limit"]).toBeUndefined();
    // A later request's charge arrives after anything the first one could have sent.
    const later = await http1Request(a.listenerUrl, chatRequest(identity, "a valid one"));
    await counterReaches(keyOf(tenant), usageOf(later));
    await until("the service's log lines", () => serviceLines(tenant).length, (n) => n >= 2);
    // The later request's check and charge, nothing for the refused one.
    expect(serviceLines(tenant)).toHaveLength(2);
  });

  it("logs no Wasm failure and no dropped charge (Invalid hits_addend) on either Envoy", async () => {
    for (const envoy of [a, b]) {
      expect(wasmFailures(envoy.logs())).toEqual([]);
      expect(await wasmFailureStats(envoy)).toEqual({});
      expect(envoy.logs()).not.toContain("Invalid hits_addend");
      expect((await envoy.stat("cluster.llama-v1.ratelimit.error")) ?? 0).toBe(0);
    }
  });
});
