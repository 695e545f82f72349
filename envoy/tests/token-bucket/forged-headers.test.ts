// A client's x-ai-model, x-ai-model-version and x-ai-tenant at a token-bucket entry without the
// router in front (the filter alone, or the router's entry off on the route with Envoy's
// FilterConfig): the entry cannot tell them from the router's by the headers, so it keeps them only
// on a stream the router marked (filter state wasm.ai_model_routed, which no client can send). A
// new made-up model name per request must not be a fresh bucket; behind the router the headers
// still name the bucket; and the mark is the stream's own: a routed request before it on the same
// connection (HTTP/1.1 keep-alive, or another h2 stream) lends none to a request on a route whose
// router entry is off.
import http from "node:http";
import http2 from "node:http2";
import { afterAll, describe, expect, it } from "vitest";
import { beforeAllOrFailEach } from "../../harness/hooks";
import { closeHttp1Connections, h2cRequest, http1Request, printEnvoyLogsOnFailure, startEnvoy, type Envoy, type HttpResponse, type RepeatedHeadersRequest } from "../../harness";
import { FLUSH_ARGS, filterEntries, renderConfig, startBucketEnvoy, startModelServer, wasmFailures, type ModelServerHandle } from "./envoy";

printEnvoyLogsOnFailure();

// One request a minute for llama, and the same for any other model name (a default); iris has
// room for many, so a request charged to iris instead of llama shows in its limit header.
const BUCKETS = {
  default_max_tokens: 16,
  models: { llama: { tenant: { requests_per_minute: 1 } }, iris: { tenant: { requests_per_minute: 50 } } },
  default: { tenant: { requests_per_minute: 1 } },
};
const CLIENTS: Array<[string, (base: string, req: RepeatedHeadersRequest) => Promise<HttpResponse>]> = [["HTTP/1.1", http1Request], ["HTTP/2 (h2c)", h2cRequest]];

let server: ModelServerHandle;
let alone: Envoy;
let separate: Envoy;
let routerOff: Envoy;

// The separate form plus a first route, for requests with `x-route: plain`, on which Envoy's
// FilterConfig turns the router's entry off (the token-bucket entry stays on).
const ROUTER_OFF_ROUTE = `              - match: {prefix: "/", headers: [{name: x-route, string_match: {exact: plain}}]}
                route: {cluster: model-server, timeout: 30s}
                typed_per_filter_config:
                  model-router: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
`;

async function startRouterOffEnvoy(modelServerPort: number): Promise<Envoy> {
  const entries = filterEntries("separate", BUCKETS);
  const config = renderConfig(entries, modelServerPort);
  const withRoute = config.replace("              routes:\n", "              routes:\n" + ROUTER_OFF_ROUTE);
  if (withRoute === config) throw new Error("envoy.template.yaml: no routes list to add the router-off route to");
  return startEnvoy({ runner: "process", name: "token-bucket-forged-router-off", config: withRoute, wasm: [...new Set(entries.map((e) => e.wasm))], extraArgs: FLUSH_ARGS });
}

/** Requests the router ran for (its counters, every model and source). */
async function routed(envoy: Envoy): Promise<number> {
  return [...(await envoy.stats("model_router\\.requests")).values()].reduce((a, b) => a + b, 0);
}

beforeAllOrFailEach(async () => {
  server = await startModelServer();
  alone = await startBucketEnvoy({ form: "alone", bucketConfig: BUCKETS, modelServerPort: server.port, name: "token-bucket-forged-alone" });
  separate = await startBucketEnvoy({ form: "separate", bucketConfig: BUCKETS, modelServerPort: server.port, name: "token-bucket-forged-separate" });
  routerOff = await startRouterOffEnvoy(server.port);
});

afterAll(async () => {
  closeHttp1Connections();
  await alone?.stop();
  await separate?.stop();
  await routerOff?.stop();
  await server?.close();
});

let runs = 0;
const chat = (i: number, tenant: string, extra: Record<string, string>, model = "llama"): RepeatedHeadersRequest => ({
  method: "POST",
  path: "/v1/chat/completions",
  headers: { "content-type": "application/json", authorization: `Bearer ${tenant}`, ...extra },
  body: JSON.stringify({ model, messages: [{ role: "user", content: `question ${i}` }], max_tokens: 4 }),
});

describe("token-bucket through Envoy: a client's x-ai-* headers", () => {
  describe.each(CLIENTS)("over %s", (_, send) => {
    it("are removed without the router in front: a new x-ai-model per request finds no fresh bucket", async () => {
      const tenant = `forger-${process.pid}-${++runs}`;
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await send(alone.listenerUrl, chat(i, tenant, { "x-ai-model": `made-up-${i}`, "x-ai-model-version": `v${i}`, "x-ai-tenant": "someone-else" }));
        statuses.push(res.status);
      }
      // Charged to the body's llama, one a minute: before the fix, 200 three times.
      expect(statuses).toEqual([200, 429, 429]);
      expect(wasmFailures(alone.logs())).toEqual([]);
    });

    it("are the router's behind the router's entry: its resolved model names the bucket", async () => {
      const tenant = `routed-${process.pid}-${++runs}`;
      // The router routes by x-model to llama while the body names iris: only the router's
      // x-ai-model, kept because Envoy hands the entry the router's mark (proxy_get_property
      // "ai_model_routed" finds filter state wasm.ai_model_routed), makes the bucket llama's.
      // Without the mark the entry would fall back to the body's iris (limit 50).
      const first = await send(separate.listenerUrl, chat(0, tenant, { "x-model": "llama", "x-ai-model": "made-up" }, "iris"));
      expect(first.status).toBe(200);
      expect(first.headers["x-ratelimit-limit-requests"]).toBe("1");
      expect(first.headers["x-ratelimit-remaining-requests"]).toBe("0");
      const second = await send(separate.listenerUrl, chat(1, tenant, { "x-model": "llama", "x-ai-model": "made-up-too" }, "iris"));
      expect(second.status).toBe(429);
      expect(wasmFailures(separate.logs())).toEqual([]);
    });
  });

  describe("the router's mark belongs to its request", () => {
    const forged = (i: number, tenant: string) => chat(i, tenant, { "x-route": "plain", "x-ai-model": `made-up-${i}` });

    it("over HTTP/1.1 keep-alive: a routed request before it on the connection lends no mark", async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const url = new URL(routerOff.listenerUrl);
      const sockets = new Set<number>();
      const send = (req: RepeatedHeadersRequest) => new Promise<number>((resolve, reject) => {
        const r = http.request({ agent, host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers }, (res) => {
          sockets.add(r.socket!.localPort!);
          res.resume();
          res.on("end", () => resolve(res.statusCode!));
        });
        r.on("error", reject);
        r.end(req.body);
      });
      const before = await routed(routerOff);
      const tenant = `keepalive-${process.pid}-${++runs}`;
      const statuses: number[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          expect(await send(chat(i, `${tenant}-routed-${i}`, {}))).toBe(200);
          statuses.push(await send(forged(i, tenant)));
        }
      } finally {
        agent.destroy();
      }
      expect(sockets.size).toBe(1);
      // The router ran for the routed requests only: it is off on the plain route.
      expect(await routed(routerOff)).toBe(before + 3);
      // Charged to the body's llama, one a minute, whatever name the client sends.
      expect(statuses).toEqual([200, 429, 429]);
      expect(wasmFailures(routerOff.logs())).toEqual([]);
    });

    it("over HTTP/2: a routed stream beside it on the connection lends no mark", async () => {
      const session = http2.connect(routerOff.listenerUrl);
      const send = (req: RepeatedHeadersRequest) => new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":method": req.method!, ":path": req.path, ...req.headers });
        let status = 0;
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.on("data", () => {});
        stream.on("end", () => resolve(status));
        stream.on("error", reject);
        stream.end(req.body);
      });
      const before = await routed(routerOff);
      const tenant = `h2-${process.pid}-${++runs}`;
      const statuses: number[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const [ok, status] = await Promise.all([send(chat(i, `${tenant}-routed-${i}`, {})), send(forged(i, tenant))]);
          expect(ok).toBe(200);
          statuses.push(status);
        }
      } finally {
        session.close();
      }
      expect(await routed(routerOff)).toBe(before + 3);
      expect(statuses).toEqual([200, 429, 429]);
      expect(wasmFailures(routerOff.logs())).toEqual([]);
    });
  });
});
