// Fleet token limits without Wasm yet: the tests' rate-limit service (envoy/ratelimit-service/
// server.py, fixed windows in a real Redis as envoyproxy/ratelimit counts them) alone over gRPC,
// then behind two real Envoy 1.40 processes with the README's rate-limit filter, per-route rules and
// cluster. set_filter_state filters stand in for the token-bucket stage and write the filter state
// wasm.llm_tokens (envoy.template.yaml says how). The service's clock is frozen on an hour boundary,
// so no window rolls over during a run; each test counts for a tenant of its own.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import {
  GrpcError,
  RATELIMIT_SERVICE_DIR,
  ROOT,
  addLogSource,
  closeHttp1Connections,
  http1Request,
  listenOnLoopback,
  printEnvoyLogsOnFailure,
  ratelimitCacheKey,
  ratelimitPython,
  startEnvoy,
  startRatelimitService,
  startSharedStore,
  type Envoy,
  type HttpResponse,
  type RatelimitService,
  type RatelimitUnit,
  type SharedStore,
} from "../../harness";

const TEMPLATE = readFileSync(path.join(__dirname, "envoy.template.yaml"), "utf8");
const README = readFileSync(path.join(ROOT, RATELIMIT_SERVICE_DIR, "README.md"), "utf8");
const LIMITS_EXAMPLE = path.join(ROOT, RATELIMIT_SERVICE_DIR, "limits.example.yaml");
const run = promisify(execFile);

/** An hour boundary: every window of an hour or less starts here, x-ratelimit-reset is the whole unit. */
const NOW = 1_800_000_000;
const DOMAIN = "ai-gateway";
/** Tokens per tenant and model per hour, for every model but the special ones below. */
const BUDGET = 1000;
const LIMITS = {
  domain: DOMAIN,
  descriptors: [
    {
      key: "tenant",
      descriptors: [
        { key: "model", rate_limit: { unit: "hour", requests_per_unit: BUDGET } },
        { key: "model", value: "tiny", rate_limit: { unit: "minute", requests_per_unit: 10 } },
        { key: "model", value: "free", rate_limit: { unlimited: true } },
        { key: "model", value: "shadow", shadow_mode: true, rate_limit: { unit: "hour", requests_per_unit: 1 } },
      ],
    },
    { key: "tenant", value: "vip", rate_limit: { unit: "day", requests_per_unit: 5 } },
  ],
};
const OTHER_DOMAIN = { domain: "other", descriptors: [{ key: "tenant", rate_limit: { unit: "second", requests_per_unit: 3 } }] };

const entries = (tenant: string, model: string) => [
  { key: "tenant", value: tenant },
  { key: "model", value: model },
];
const keyOf = (tenant: string, model = "m", unit: RatelimitUnit = "hour") => ratelimitCacheKey(DOMAIN, entries(tenant, model), unit, NOW);

let runId = 0;
/** A tenant no other test (nor an earlier run on the same Redis) counts for. */
const newTenant = (what: string) => `${what}-${process.pid}-${++runId}`;

async function until<T>(what: string, probe: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

printEnvoyLogsOnFailure();

let store: SharedStore;
let service: RatelimitService;

beforeAllOrFailEach(async () => {
  store = await startSharedStore({ name: "ratelimit-redis" });
  addLogSource("rate-limit Redis", store.logs);
  service = await startRatelimitService({ limits: [LIMITS, OTHER_DOMAIN], store, frozenTime: NOW });
  addLogSource("rate-limit service", service.logs);
});

afterAll(async () => {
  closeHttp1Connections();
  await service?.close();
  await store?.close();
});

/** The service's log lines for one tenant. */
const serviceLines = (tenant: string) => service.logs().split("\n").filter((l) => l.includes(`(tenant=${tenant},`));

/**
 * Waits for the service to log as many calls for `tenant` as `expected` has, then compares them,
 * "+<hits>: <key> <count after> -> <code>" each. The order is left out: the service logs after Redis
 * answered, so a charge's line can follow the next admission's; the counts say what came first.
 */
async function expectCalls(tenant: string, expected: string[]): Promise<void> {
  await until(`the service's calls for ${tenant}`, () => serviceLines(tenant).length, (n) => n >= expected.length);
  expect(serviceLines(tenant).map((l) => l.replace(/^.*\) /, "")).sort()).toEqual([...expected].sort());
}

describe("ratelimit-service", () => {
  describe("alone, over gRPC", () => {
    it("answers OK with the limit, what remains and the seconds to the window's end", async () => {
      const tenant = newTenant("ok");
      const res = await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "m"), hitsAddend: 0 }] });
      expect(res).toEqual({
        overallCode: "OK",
        statuses: [{ code: "OK", currentLimit: { requestsPerUnit: BUDGET, unit: "hour", name: "" }, limitRemaining: BUDGET, durationUntilReset: 3600 }],
      });
      const tiny = await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "tiny"), hitsAddend: 0 }] });
      expect(tiny.statuses[0]).toMatchObject({ currentLimit: { requestsPerUnit: 10, unit: "minute" }, durationUntilReset: 60 });
    });

    it("counts in envoyproxy/ratelimit's key with INCRBY and EXPIRE, a check-only call included", async () => {
      const tenant = newTenant("key");
      const key = `${DOMAIN}_tenant_${tenant}_model_m_${NOW}`;
      expect(keyOf(tenant)).toBe(key);
      await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "m"), hitsAddend: 0 }] });
      expect(await service.counter(key)).toBe(0);
      expect(Number(await store.redis("TTL", key))).toBeGreaterThanOrEqual(3599);
      expect(Number(await store.redis("TTL", key))).toBeLessThanOrEqual(3600);
      await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "m"), hitsAddend: 17 }] });
      expect(await service.counter(key)).toBe(17);
      // A minute window starts on the minute: NOW is one.
      await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "tiny"), hitsAddend: 2 }] });
      expect(await service.counter(`${DOMAIN}_tenant_${tenant}_model_tiny_${NOW}`)).toBe(2);
      expect(Number(await store.redis("TTL", keyOf(tenant, "tiny", "minute")))).toBeLessThanOrEqual(60);
    });

    it.each([
      { hits: "the descriptor's own", own: 25, request: 7, added: 25 },
      { hits: "0 from the descriptor: check only", own: 0, request: 7, added: 0 },
      { hits: "the request's", own: undefined, request: 7, added: 7 },
      { hits: "1 when neither has any", own: undefined, request: undefined, added: 1 },
    ])("adds $hits hits", async ({ own, request, added }) => {
      const tenant = newTenant("hits");
      const res = await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "m"), hitsAddend: own }], hitsAddend: request });
      expect(res.statuses[0].limitRemaining).toBe(BUDGET - added);
      expect(await service.counter(keyOf(tenant))).toBe(added);
    });

    it("answers OVER_LIMIT once the count exceeds requests_per_unit, and counts the hits all the same", async () => {
      const tenant = newTenant("over");
      const call = async (hitsAddend: number) =>
        (await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "tiny"), hitsAddend }] })).statuses[0];
      expect(await call(10)).toMatchObject({ code: "OK", limitRemaining: 0 });
      // Used up exactly: a check-only call still passes (count + 0 > 10 is false).
      expect(await call(0)).toMatchObject({ code: "OK", limitRemaining: 0 });
      expect(await call(1)).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0, durationUntilReset: 60 });
      expect(await call(0)).toMatchObject({ code: "OVER_LIMIT", limitRemaining: 0 });
      expect(await service.counter(keyOf(tenant, "tiny", "minute"))).toBe(11);
    });

    it.each([
      { match: "a key_value limit at the last entry", d: [["tenant", "vip"]], limit: { requestsPerUnit: 5, unit: "day" } },
      { match: "no limit when key_value wins at a level that has no deeper descriptors", d: [["tenant", "vip"], ["model", "m"]], limit: undefined },
      { match: "no limit at a level without a rate_limit", d: [["tenant", "x"]], limit: undefined },
      { match: "a value before the key's default", d: [["tenant", "x"], ["model", "tiny"]], limit: { requestsPerUnit: 10, unit: "minute" } },
      { match: "the key's default for any other value", d: [["tenant", "x"], ["model", "m"]], limit: { requestsPerUnit: BUDGET, unit: "hour" } },
      { match: "no limit for a descriptor deeper than the config", d: [["tenant", "x"], ["model", "m"], ["user", "u"]], limit: undefined },
      { match: "the other config file's domain", domain: "other", d: [["tenant", "x"]], limit: { requestsPerUnit: 3, unit: "second" } },
      { match: "no limit in an unknown domain", domain: "unknown", d: [["tenant", "x"], ["model", "m"]], limit: undefined },
    ])("matches $match", async ({ domain, d, limit }) => {
      const res = await service.shouldRateLimit({
        domain: domain ?? DOMAIN,
        descriptors: [{ entries: d.map(([key, value]) => ({ key, value: value === "x" ? newTenant("match") : value })), hitsAddend: 0 }],
      });
      expect(res.overallCode).toBe("OK");
      if (limit === undefined) expect(res.statuses[0]).toEqual({ code: "OK", limitRemaining: 0 });
      else expect(res.statuses[0].currentLimit).toMatchObject(limit);
    });

    it("answers an unlimited descriptor OK without counting, and a shadow_mode one OK over its limit", async () => {
      const tenant = newTenant("free");
      const free = await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "free"), hitsAddend: 99 }] });
      expect(free.statuses[0]).toEqual({ code: "OK", limitRemaining: 2 ** 32 - 1 });
      expect(await store.redis("KEYS", `${DOMAIN}_tenant_${tenant}_*`)).toEqual([]);
      const shadow = await service.shouldRateLimit({ domain: DOMAIN, descriptors: [{ entries: entries(tenant, "shadow"), hitsAddend: 2 }] });
      expect(shadow.overallCode).toBe("OK");
      expect(shadow.statuses[0]).toMatchObject({ code: "OK", limitRemaining: 0 });
      expect(await service.counter(keyOf(tenant, "shadow"))).toBe(2);
    });

    it("answers OVER_LIMIT overall when any one descriptor is over", async () => {
      const tenant = newTenant("overall");
      const res = await service.shouldRateLimit({
        domain: DOMAIN,
        descriptors: [
          { entries: entries(tenant, "m"), hitsAddend: 5 },
          { entries: entries(tenant, "tiny"), hitsAddend: 11 },
        ],
      });
      expect(res.overallCode).toBe("OVER_LIMIT");
      expect(res.statuses.map((s) => [s.code, s.limitRemaining])).toEqual([
        ["OK", BUDGET - 5],
        ["OVER_LIMIT", 0],
      ]);
    });

    it.each([
      { what: "no domain", domain: "", descriptors: [{ entries: entries("t", "m") }], message: "rate limit domain must not be empty" },
      { what: "no descriptors", domain: DOMAIN, descriptors: [], message: "rate limit descriptor list must not be empty" },
    ])("refuses a request with $what (gRPC UNKNOWN, as envoyproxy/ratelimit)", async ({ domain, descriptors, message }) => {
      const err = await service.shouldRateLimit({ domain, descriptors }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GrpcError);
      expect(err).toMatchObject({ code: 2, grpcMessage: message });
    });

    it("answers UNAVAILABLE while Redis is down, and counts again once it is back", async () => {
      const tenant = newTenant("redis-down");
      const request = { domain: DOMAIN, descriptors: [{ entries: entries(tenant, "m"), hitsAddend: 3 }] };
      await store.stopRedis();
      try {
        const err = await service.shouldRateLimit(request).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GrpcError);
        expect((err as GrpcError).code).toBe(14);
        expect((err as GrpcError).grpcMessage).toMatch(/^redis: /);
      } finally {
        await store.startRedis();
        await service.grantRedisUser();
      }
      expect((await service.shouldRateLimit(request)).statuses[0].limitRemaining).toBe(BUDGET - 3);
    });

    it("loads the README's limits example (--check prints its limits)", async () => {
      const blocks = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => /^domain: /m.test(b));
      expect(blocks).toEqual([readFileSync(LIMITS_EXAMPLE, "utf8")]);
      const { stdout } = await run(ratelimitPython(), [path.join(ROOT, RATELIMIT_SERVICE_DIR, "server.py"), "--check", "--config", LIMITS_EXAMPLE]);
      expect(stdout).toBe("ai-gateway.tenant.model 100000/minute\nai-gateway.tenant.model_llama-3-70b 20000/minute\n");
    });

    it.each([
      { what: "a unit it does not know", rate_limit: { unit: "minutes", requests_per_unit: 5 }, error: "descriptors[0].descriptors[0].rate_limit.unit: 'minutes' is not one of second, minute, hour, day, week, month, year" },
      { what: "a negative budget", rate_limit: { unit: "minute", requests_per_unit: -1 }, error: "descriptors[0].descriptors[0].rate_limit.requests_per_unit: -1 is not an integer from 0 to 4294967295" },
      { what: "an unknown key", rate_limit: { unit: "minute", requests_per_unit: 5, burst: 2 }, error: "descriptors[0].descriptors[0].rate_limit.burst: unknown key (expected one of name, requests_per_unit, unit, unlimited)" },
      { what: "a key only envoyproxy/ratelimit supports", rate_limit: { unit: "minute", requests_per_unit: 5, replaces: [{ name: "x" }] }, error: "descriptors[0].descriptors[0].rate_limit.replaces: supported by envoyproxy/ratelimit, not by this test service" },
    ])("refuses a limits config with $what, in one line naming the file, the field and the value", async ({ rate_limit, error }) => {
      const config = { domain: "bad", descriptors: [{ key: "tenant", descriptors: [{ key: "model", rate_limit }] }] };
      const err = await startRatelimitService({ limits: config, store, name: "ratelimit-service-bad-config" }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      const line = (err as Error).message.split("\n").find((l) => l.startsWith("ratelimit-service: config error: "));
      expect(line).toMatch(/^ratelimit-service: config error: \S+\/limits-0\.yaml: /);
      expect(line?.replace(/^.*limits-0\.yaml: /, "")).toBe(error);
      expect((err as Error).message).toMatch(/exited \(code 2,/);
    });
  });

  describe("behind two Envoy 1.40 processes (no Wasm)", () => {
    let envoyA: Envoy;
    let envoyB: Envoy;
    let upstream: http.Server;
    /** Runs while a request is at the upstream, before it answers. */
    let atUpstream: ((req: http.IncomingMessage) => Promise<void>) | undefined;

    beforeAllOrFailEach(async () => {
      upstream = http.createServer((req, res) => {
        req.resume();
        req.on("end", async () => {
          let status = 200;
          try {
            await atUpstream?.(req);
          } catch (err) {
            status = 500;
            res.setHeader("x-upstream-error", String((err as Error).message).slice(0, 200));
          }
          res.writeHead(status, { "content-type": "application/json" });
          res.end('{"ok":true}');
        });
      });
      const upstreamPort = await listenOnLoopback(upstream);
      const vars = { UPSTREAM_PORT: upstreamPort, RATELIMIT_PORT: service.port };
      [envoyA, envoyB] = await Promise.all([
        startEnvoy({ runner: "process", name: "ratelimit-a", config: TEMPLATE, vars }),
        startEnvoy({ runner: "process", name: "ratelimit-b", config: TEMPLATE, vars }),
      ]);
    }, 120_000);

    afterAll(async () => {
      await envoyA?.stop();
      await envoyB?.stop();
      upstream?.closeAllConnections();
      await new Promise((r) => upstream?.close(r));
    });

    const send = (envoy: Envoy, o: { tenant?: string; model?: string; tokens?: number; path?: string }): Promise<HttpResponse> =>
      http1Request(envoy.listenerUrl, {
        method: "POST",
        path: o.path ?? "/v1/chat/completions",
        headers: {
          "content-type": "application/json",
          ...(o.tenant === undefined ? {} : { "x-ai-tenant": o.tenant }),
          "x-ai-model": o.model ?? "m",
          ...(o.tokens === undefined ? {} : { "x-test-llm-tokens": String(o.tokens) }),
        },
        body: "{}",
      });
    const counterReaches = (key: string, want: number) => until(`counter ${key}`, () => service.counter(key), (v) => v === want);
    const stat = async (envoy: Envoy, name: string) => (await envoy.stat(`cluster.upstream.ratelimit.${name}`)) ?? 0;

    it("runs the README's rate-limit filter, per-route rules and cluster", () => {
      const blocks = [...README.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
      const indented = (block: string, spaces: number) =>
        block
          .trimEnd()
          .split("\n")
          .map((l) => " ".repeat(spaces) + l)
          .join("\n") + "\n";
      const only = (needle: string) => {
        const found = blocks.filter((b) => b.includes(needle));
        expect(found, needle).toHaveLength(1);
        return found[0];
      };
      const filter = only("- name: envoy.filters.http.ratelimit\n");
      expect(TEMPLATE).toContain(indented(filter, 10).replace("timeout: 0.1s", "timeout: 2s"));
      expect(TEMPLATE).toContain(indented(only("typed_per_filter_config:\n"), 16));
      const cluster = only("- name: ratelimit\n");
      expect(TEMPLATE).toContain(indented(cluster, 2).replace("address: ratelimit, port_value: 8081", "address: 127.0.0.1, port_value: ${RATELIMIT_PORT}"));
    });

    it("checks at admission without charging, and charges the token count when the stream is done", async () => {
      const tenant = newTenant("admission");
      const key = keyOf(tenant);
      const atAdmission: (number | null)[] = [];
      atUpstream = async (req) => {
        if (req.headers["x-ai-tenant"] === tenant) atAdmission.push(await service.counter(key));
      };
      try {
        const first = await send(envoyA, { tenant, tokens: 37 });
        expect(first.status).toBe(200);
        expect(first.headers).toMatchObject({ "x-ratelimit-limit": `${BUDGET}, ${BUDGET};w=3600`, "x-ratelimit-remaining": String(BUDGET), "x-ratelimit-reset": "3600" });
        await counterReaches(key, 37);
        const second = await send(envoyA, { tenant, tokens: 5 });
        expect(second.headers["x-ratelimit-remaining"]).toBe(String(BUDGET - 37));
        await counterReaches(key, 42);
      } finally {
        atUpstream = undefined;
      }
      // While each request was at the upstream, only the earlier requests' charges were counted.
      expect(atAdmission).toEqual([0, 37]);
      await expectCalls(tenant, [`+0: ${key} 0 -> OK`, `+37: ${key} 37 -> OK`, `+0: ${key} 37 -> OK`, `+5: ${key} 42 -> OK`]);
    });

    it("answers 429 with x-ratelimit-* once the window's tokens are used up, and charges the refused request 0", async () => {
      const tenant = newTenant("used-up");
      const key = keyOf(tenant);
      const overBefore = await stat(envoyA, "over_limit");
      for (const [tokens, total] of [
        [600, 600],
        [400, 1000],
        // Used up exactly: admitted all the same, and its tokens are charged.
        [50, 1050],
      ]) {
        const res = await send(envoyA, { tenant, tokens });
        expect(res.status).toBe(200);
        await counterReaches(key, total);
      }
      const refused = await send(envoyA, { tenant, tokens: 10 });
      expect(refused.status).toBe(429);
      expect(refused.headers).toMatchObject({
        "x-envoy-ratelimited": "true",
        "x-ratelimit-limit": `${BUDGET}, ${BUDGET};w=3600`,
        "x-ratelimit-remaining": "0",
        "x-ratelimit-reset": "3600",
      });
      // The refused request's end-of-stream charge: the stand-in's 0, as the stage will write it.
      await expectCalls(tenant, [
        `+0: ${key} 0 -> OK`,
        `+600: ${key} 600 -> OK`,
        `+0: ${key} 600 -> OK`,
        `+400: ${key} 1000 -> OK`,
        `+0: ${key} 1000 -> OK`,
        // The charge that crosses the budget is answered OVER_LIMIT (Envoy ignores the answer) and counted.
        `+50: ${key} 1050 -> OVER_LIMIT`,
        `+0: ${key} 1050 -> OVER_LIMIT`,
        `+0: ${key} 1050 -> OVER_LIMIT`,
      ]);
      expect(await service.counter(key)).toBe(1050);
      expect(await stat(envoyA, "over_limit")).toBe(overBefore + 1);
    });

    it("admits one budget plus one request across two Envoys, requests sent one at a time", async () => {
      const tenant = newTenant("fleet-serial");
      const key = keyOf(tenant);
      const tokens = 100;
      const errorsBefore = (await stat(envoyA, "error")) + (await stat(envoyB, "error"));
      const admittedBy = new Map<Envoy, number>([
        [envoyA, 0],
        [envoyB, 0],
      ]);
      const refusedBy = new Set<Envoy>();
      let admitted = 0;
      for (let i = 0; i < 40 && refusedBy.size < 2; i++) {
        const envoy = i % 2 === 0 ? envoyA : envoyB;
        const res = await send(envoy, { tenant, tokens });
        if (res.status === 200) {
          admitted++;
          admittedBy.set(envoy, admittedBy.get(envoy)! + 1);
          // The next request goes out once this one's charge is counted: one request at a time.
          await counterReaches(key, admitted * tokens);
        } else {
          expect(res.status).toBe(429);
          refusedBy.add(envoy);
        }
      }
      expect(refusedBy.size).toBe(2);
      expect(admitted * tokens).toBe(BUDGET + tokens);
      expect(admittedBy.get(envoyA)).toBeGreaterThan(0);
      expect(admittedBy.get(envoyB)).toBeGreaterThan(0);
      expect((await stat(envoyA, "error")) + (await stat(envoyB, "error"))).toBe(errorsBefore);
    });

    it("admits at most the requests in flight past one budget, with concurrent clients on both Envoys", async () => {
      const tenant = newTenant("fleet-concurrent");
      const key = keyOf(tenant);
      const tokens = 50;
      const clients = [envoyA, envoyA, envoyB, envoyB];
      const errorsBefore = (await stat(envoyA, "error")) + (await stat(envoyB, "error"));
      const admittedPerClient = await Promise.all(
        clients.map(async (envoy) => {
          let admitted = 0;
          for (let i = 0; i < 100; i++) {
            const res = await send(envoy, { tenant, tokens });
            if (res.status !== 200) {
              expect(res.status).toBe(429);
              return admitted;
            }
            admitted++;
          }
          throw new Error("never refused");
        }),
      );
      const admitted = admittedPerClient.reduce((a, b) => a + b, 0);
      // Every admitted request is charged once, a refused one nothing.
      await counterReaches(key, admitted * tokens);
      const overshoot = admitted * tokens - BUDGET;
      expect(overshoot).toBeGreaterThan(0);
      // Each client has at most one request in flight and one whose charge is on its way.
      expect(overshoot, `admitted ${admittedPerClient.join("+")} requests of ${tokens} tokens`).toBeLessThanOrEqual(2 * clients.length * tokens);
      expect((await stat(envoyA, "error")) + (await stat(envoyB, "error"))).toBe(errorsBefore);
    });

    it("serves a request whose wasm.llm_tokens was never written, drops its charge and logs 'Invalid hits_addend'", async () => {
      const tenant = newTenant("no-token-count");
      const key = keyOf(tenant);
      const res = await send(envoyA, { tenant, tokens: 70, path: "/no-token-count/v1/chat/completions" });
      expect(res.status).toBe(200);
      expect(res.headers["x-ratelimit-remaining"]).toBe(String(BUDGET));
      // Envoy logs the dropped descriptor where it would have sent the charge.
      const log = await until("Envoy's warning", () => envoyA.logs(), (l) => l.includes("Invalid hits_addend"));
      expect(log).toMatch(/\[warning\]\[config\] \[source\/extensions\/filters\/common\/ratelimit_config\/ratelimit_config\.cc:\d+\] Invalid hits_addend: .*\n\s*null_value: NULL_VALUE/);
      // A later request's charge is counted; the dropped one never is.
      const later = await send(envoyA, { tenant, tokens: 30 });
      expect(later.status).toBe(200);
      await counterReaches(key, 30);
      await expectCalls(tenant, [`+0: ${key} 0 -> OK`, `+0: ${key} 0 -> OK`, `+30: ${key} 30 -> OK`]);
    });

    it("neither checks nor charges a request without x-ai-tenant", async () => {
      const model = newTenant("no-tenant-model");
      const res = await send(envoyA, { model, tokens: 70 });
      expect(res.status).toBe(200);
      expect(res.headers["x-ratelimit-limit"]).toBeUndefined();
      // A later request's charge arrives after anything the first one could have sent.
      const tenant = newTenant("after-no-tenant");
      await send(envoyA, { tenant, model, tokens: 1 });
      await counterReaches(keyOf(tenant, model), 1);
      expect(service.logs().split("\n").filter((l) => l.includes(`model=${model})`) && !l.includes(`tenant=${tenant},`))).toEqual([]);
    });

    it("ignores hits_addend in RouteAction.rate_limits (envoyproxy/envoy#45611): 1 at admission, 1 at the end", async () => {
      const tenant = newTenant("route-action");
      const key = keyOf(tenant);
      const res = await send(envoyA, { tenant, tokens: 70, path: "/route-action/v1/chat/completions" });
      expect(res.status).toBe(200);
      expect(res.headers["x-ratelimit-remaining"]).toBe(String(BUDGET - 1));
      await counterReaches(key, 2);
      await expectCalls(tenant, [`+1: ${key} 1 -> OK`, `+1: ${key} 2 -> OK`]);
    });

    it("admits requests while the service cannot reach Redis (failure_mode_deny: false)", async () => {
      const tenant = newTenant("fail-open");
      const [errors, allowed] = [await stat(envoyA, "error"), await stat(envoyA, "failure_mode_allowed")];
      await store.stopRedis();
      try {
        const res = await send(envoyA, { tenant, tokens: 10 });
        expect(res.status).toBe(200);
        expect(res.headers["x-ratelimit-limit"]).toBeUndefined();
        expect(await stat(envoyA, "error")).toBe(errors + 1);
        expect(await stat(envoyA, "failure_mode_allowed")).toBe(allowed + 1);
      } finally {
        await store.startRedis();
        await service.grantRedisUser();
      }
    });
  });
});
